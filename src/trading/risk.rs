//! Risk limits, checked before any order is sized into a request.
//!
//! Exits are never blocked by the entry limits: a limit that stopped the
//! daemon from selling would add risk, not remove it.

use rust_decimal::Decimal;

use crate::config::RiskConfig;
use crate::exchange::Side;

#[derive(Debug, Clone)]
pub struct RiskLimits {
    max_order_notional: Decimal,
    max_position_notional: Decimal,
    daily_loss_limit: Decimal,
}

/// What the risk check needs to know about a proposed order.
#[derive(Debug, Clone, Copy)]
pub struct ProposedOrder {
    pub side: Side,
    pub notional: Decimal,
    /// Value of the symbol's position at the current price, before the order.
    pub position_notional: Decimal,
    /// Realised profit so far today (negative for a loss).
    pub day_pnl: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskRejection {
    #[error("order notional {notional} exceeds risk.max_order_notional {limit}")]
    OrderTooLarge { notional: Decimal, limit: Decimal },
    #[error("position would reach {after}, above risk.max_position_notional {limit}")]
    PositionTooLarge { after: Decimal, limit: Decimal },
    #[error(
        "daily loss {loss} reached risk.daily_loss_limit {limit}; no new entries until 00:00 UTC"
    )]
    DailyLossLimit { loss: Decimal, limit: Decimal },
}

impl RiskLimits {
    pub fn new(config: &RiskConfig) -> Self {
        Self {
            max_order_notional: config.max_order_notional,
            max_position_notional: config.max_position_notional,
            daily_loss_limit: config.daily_loss_limit,
        }
    }

    pub fn check(&self, order: &ProposedOrder) -> Result<(), RiskRejection> {
        if order.side == Side::Sell {
            return Ok(());
        }
        let loss = -order.day_pnl;
        if loss >= self.daily_loss_limit {
            return Err(RiskRejection::DailyLossLimit {
                loss: loss.round_dp(8),
                limit: self.daily_loss_limit,
            });
        }
        if order.notional > self.max_order_notional {
            return Err(RiskRejection::OrderTooLarge {
                notional: order.notional.round_dp(8),
                limit: self.max_order_notional,
            });
        }
        let after = order.position_notional + order.notional;
        if after > self.max_position_notional {
            return Err(RiskRejection::PositionTooLarge {
                after: after.round_dp(8),
                limit: self.max_position_notional,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RiskLimits {
        RiskLimits::new(&RiskConfig {
            max_order_notional: Decimal::from(500),
            max_position_notional: Decimal::from(1000),
            daily_loss_limit: Decimal::from(200),
        })
    }

    fn buy(notional: i64, position: i64, day_pnl: i64) -> ProposedOrder {
        ProposedOrder {
            side: Side::Buy,
            notional: Decimal::from(notional),
            position_notional: Decimal::from(position),
            day_pnl: Decimal::from(day_pnl),
        }
    }

    #[test]
    fn an_order_within_every_limit_passes() {
        assert_eq!(limits().check(&buy(100, 0, 0)), Ok(()));
    }

    #[test]
    fn each_limit_rejects_with_its_own_reason() {
        assert!(matches!(
            limits().check(&buy(600, 0, 0)),
            Err(RiskRejection::OrderTooLarge { .. })
        ));
        assert!(matches!(
            limits().check(&buy(400, 700, 0)),
            Err(RiskRejection::PositionTooLarge { .. })
        ));
        assert!(matches!(
            limits().check(&buy(100, 0, -200)),
            Err(RiskRejection::DailyLossLimit { .. })
        ));
    }

    #[test]
    fn exits_pass_even_past_the_daily_loss_limit() {
        let mut sell = buy(100, 0, -500);
        sell.side = Side::Sell;
        assert_eq!(limits().check(&sell), Ok(()));
    }
}

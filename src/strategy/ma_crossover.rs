//! The built-in strategy: a simple moving-average crossover on closes.
//!
//! BUY when the fast average crosses above the slow one, SELL when it crosses
//! below, HOLD otherwise. Confidence grows with how far apart the averages are
//! at the cross, relative to price: 0.5 at a bare touch, 1.0 at a 0.5 % gap.
//! It is a documented baseline for the plumbing, not a promise of profit.

use std::collections::{HashMap, VecDeque};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{Action, DecisionSource, TradingDecision};
use crate::market::Candle;

pub struct MaCrossover {
    fast: usize,
    slow: usize,
    symbols: HashMap<String, SymbolState>,
}

#[derive(Default)]
struct SymbolState {
    /// The last `slow` closes, newest at the back.
    closes: VecDeque<Decimal>,
    fast_sum: Decimal,
    slow_sum: Decimal,
    /// Whether the fast average was above the slow one at the last candle.
    fast_above: Option<bool>,
}

impl MaCrossover {
    pub fn new(fast: usize, slow: usize) -> Self {
        assert!(0 < fast && fast < slow, "validated by the config");
        Self {
            fast,
            slow,
            symbols: HashMap::new(),
        }
    }
}

impl DecisionSource for MaCrossover {
    fn name(&self) -> &'static str {
        "ma_crossover"
    }

    fn warmup_candles(&self) -> usize {
        self.slow + 1
    }

    fn on_candle(&mut self, candle: &Candle) -> TradingDecision {
        let (fast, slow) = (self.fast, self.slow);
        let state = self.symbols.entry(candle.symbol.clone()).or_default();
        state.closes.push_back(candle.close);
        state.fast_sum += candle.close;
        state.slow_sum += candle.close;
        if state.closes.len() > fast {
            state.fast_sum -= state.closes[state.closes.len() - 1 - fast];
        }
        if state.closes.len() > slow {
            state.slow_sum -= state.closes.pop_front().unwrap_or_default();
        }
        let hold = |reason: String| TradingDecision {
            symbol: candle.symbol.clone(),
            action: Action::Hold,
            confidence: 0.0,
            reason,
        };
        if state.closes.len() < slow {
            return hold(format!(
                "warming up: {} of {slow} closes",
                state.closes.len()
            ));
        }

        let fast_ma = state.fast_sum / Decimal::from(fast);
        let slow_ma = state.slow_sum / Decimal::from(slow);
        let fast_above = fast_ma > slow_ma;
        let previous = state.fast_above.replace(fast_above);
        let action = match previous {
            Some(false) if fast_above => Action::Buy,
            Some(true) if !fast_above => Action::Sell,
            _ => {
                return hold(format!(
                    "no crossover (fast {fast_ma:.2}, slow {slow_ma:.2})"
                ));
            }
        };
        let gap = ((fast_ma - slow_ma).abs() / slow_ma)
            .to_f64()
            .unwrap_or(0.0);
        TradingDecision {
            symbol: candle.symbol.clone(),
            action,
            confidence: (0.5 + gap * 100.0).min(1.0),
            reason: format!(
                "SMA{fast} {fast_ma:.2} crossed {} SMA{slow} {slow_ma:.2}",
                if fast_above { "above" } else { "below" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(close: i64) -> Candle {
        let close = Decimal::from(close);
        Candle {
            symbol: "BTCUSDT".into(),
            open_time_ms: 0,
            close_time_ms: 59_999,
            open: close,
            high: close,
            low: close,
            close,
            volume: Decimal::ONE,
        }
    }

    fn actions(closes: &[i64]) -> Vec<Action> {
        let mut strategy = MaCrossover::new(2, 4);
        closes
            .iter()
            .map(|c| strategy.on_candle(&candle(*c)).action)
            .collect()
    }

    #[test]
    fn holds_until_the_slow_window_is_full() {
        assert_eq!(actions(&[1, 2, 3]), [Action::Hold; 3]);
    }

    #[test]
    fn buys_when_the_fast_average_crosses_above_and_sells_when_it_crosses_below() {
        let got = actions(&[10, 10, 10, 10, 9, 12, 14, 14, 9, 8]);
        let buy = got.iter().position(|a| *a == Action::Buy).expect("a buy");
        let sell = got.iter().position(|a| *a == Action::Sell).expect("a sell");
        assert!(buy < sell, "{got:?}");
        assert_eq!(
            got.iter().filter(|a| **a != Action::Hold).count(),
            2,
            "{got:?}"
        );
    }

    #[test]
    fn symbols_keep_separate_windows() {
        let mut strategy = MaCrossover::new(2, 4);
        for close in [1, 2, 3] {
            strategy.on_candle(&candle(close));
        }
        let mut eth = candle(5);
        eth.symbol = "ETHUSDT".into();
        assert!(strategy.on_candle(&eth).reason.starts_with("warming up: 1"));
    }

    #[test]
    fn confidence_stays_between_half_and_one() {
        let mut strategy = MaCrossover::new(2, 4);
        for close in [100, 100, 100, 100, 50, 500] {
            let d = strategy.on_candle(&candle(close));
            if d.action != Action::Hold {
                assert!((0.5..=1.0).contains(&d.confidence), "{d:?}");
            }
        }
    }
}

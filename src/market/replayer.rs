//! Paces replayed candles: all at once (`max`) or N times faster than they
//! happened, so a replay can stand in for a live feed.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Candle, CandleSource, MarketEvent};

/// How fast a replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Speed {
    /// As fast as the loop can take them.
    #[default]
    Max,
    /// Market time divided by this factor: 60 plays a 1m candle per second.
    Factor(f64),
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Factor(factor) => write!(f, "{factor}x"),
        }
    }
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(Speed::Factor(factor)),
            _ => Err(format!(
                "speed must be a number above 0 or \"max\", got {s:?}"
            )),
        }
    }
}

pub struct Replayer {
    candles: VecDeque<Candle>,
    speed: Speed,
    last_close_ms: Option<i64>,
}

impl Replayer {
    pub fn new(candles: Vec<Candle>, speed: Speed) -> Self {
        Self {
            candles: candles.into(),
            speed,
            last_close_ms: None,
        }
    }

    pub fn remaining(&self) -> usize {
        self.candles.len()
    }
}

impl CandleSource for Replayer {
    async fn next(&mut self) -> Option<MarketEvent> {
        let candle = self.candles.pop_front()?;
        if let (Speed::Factor(factor), Some(last)) = (self.speed, self.last_close_ms) {
            // A gap in the data (maintenance, or two files years apart) is
            // not waited out: the pause is at most one bar's length.
            let bar_ms = candle.close_time_ms - candle.open_time_ms + 1;
            let market_ms = (candle.close_time_ms - last).clamp(0, bar_ms.max(0)) as f64;
            tokio::time::sleep(Duration::from_secs_f64(market_ms / factor / 1000.0)).await;
        }
        self.last_close_ms = Some(candle.close_time_ms);
        Some(MarketEvent::Closed(candle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses_max_and_positive_factors_only() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("60".parse::<Speed>(), Ok(Speed::Factor(60.0)));
        assert!("0".parse::<Speed>().is_err());
        assert!("-2".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }
}

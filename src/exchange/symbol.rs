//! Splitting a spot symbol into its base and quote assets.

/// Quote assets, longest first so `FDUSD` wins over `USD`-like suffixes.
const QUOTE_ASSETS: [&str; 10] = [
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY",
];

/// `BTCUSDT` → `("BTC", "USDT")`. `None` when no known quote asset ends it.
/// The live client takes the split from `exchangeInfo` instead.
pub fn split_symbol(symbol: &str) -> Option<(&str, &str)> {
    QUOTE_ASSETS.iter().find_map(|quote| {
        let base = symbol.strip_suffix(quote)?;
        (!base.is_empty()).then_some((base, *quote))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_common_spot_symbols() {
        assert_eq!(split_symbol("BTCUSDT"), Some(("BTC", "USDT")));
        assert_eq!(split_symbol("ETHBTC"), Some(("ETH", "BTC")));
        assert_eq!(split_symbol("BTCFDUSD"), Some(("BTC", "FDUSD")));
        assert_eq!(split_symbol("USDT"), None);
        assert_eq!(split_symbol("FOOBAR"), None);
    }
}

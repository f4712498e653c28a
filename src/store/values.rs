//! How values cross into each backend. Decimals are the only difference:
//! SQLite keeps them as their exact text, PostgreSQL as NUMERIC. A column
//! that does not hold what it should is a decode error naming the column.

use std::str::FromStr;

use sqlx::Row;

/// A decode error naming the column and the value found.
fn corrupt(column: &str, found: &str, expected: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {column} holds {found:?}, not {expected}").into())
}

/// Parses a text column into one of our enums or numbers.
pub fn parse<T: FromStr, R: Row>(row: &R, column: &'static str) -> Result<T, sqlx::Error>
where
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| corrupt(column, &text, std::any::type_name::<T>()))
}

pub mod sqlite {
    use rust_decimal::Decimal;
    use sqlx::Row;
    use sqlx::sqlite::SqliteRow;

    pub fn dec(value: Decimal) -> String {
        value.to_string()
    }

    pub fn opt_dec(value: Option<Decimal>) -> Option<String> {
        value.map(dec)
    }

    pub fn get_dec(row: &SqliteRow, column: &'static str) -> Result<Decimal, sqlx::Error> {
        let text: String = row.try_get(column)?;
        text.parse()
            .map_err(|_| super::corrupt(column, &text, "a decimal"))
    }

    pub fn get_opt_dec(
        row: &SqliteRow,
        column: &'static str,
    ) -> Result<Option<Decimal>, sqlx::Error> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|text| {
            text.parse()
                .map_err(|_| super::corrupt(column, &text, "a decimal"))
        })
        .transpose()
    }
}

pub mod postgres {
    use rust_decimal::Decimal;
    use sqlx::Row;
    use sqlx::postgres::PgRow;

    pub fn dec(value: Decimal) -> Decimal {
        value
    }

    pub fn opt_dec(value: Option<Decimal>) -> Option<Decimal> {
        value
    }

    pub fn get_dec(row: &PgRow, column: &'static str) -> Result<Decimal, sqlx::Error> {
        row.try_get(column)
    }

    pub fn get_opt_dec(row: &PgRow, column: &'static str) -> Result<Option<Decimal>, sqlx::Error> {
        row.try_get(column)
    }
}

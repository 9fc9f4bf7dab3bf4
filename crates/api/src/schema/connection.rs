//! Relay connections over lists keyed by UUIDv7 (creation order).

use async_graphql::connection::{Connection, Edge};
use async_graphql::OutputType;
use uuid::Uuid;

use crate::ids::encode_cursor;

/// Builds a page from `limit + 1` fetched rows: the extra row only says there is a next page.
pub(crate) fn page<T, N: OutputType>(
    mut rows: Vec<T>,
    limit: u64,
    had_cursor: bool,
    key: impl Fn(&T) -> Uuid,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut conn = Connection::new(had_cursor, has_next);
    conn.edges.extend(
        rows.into_iter()
            .map(|r| Edge::new(encode_cursor(key(&r)), node(r))),
    );
    conn
}

//! Parsed GraphQL documents by query text. Clients send the same few queries again and again,
//! and parsing was about a tenth of a small read's CPU (`scripts/profile.sh single`). Validation
//! still runs on every request: it depends on the variables and the schema, not on the text.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

use crate::limits::max_aliases_per_field;

/// Longer query texts are parsed every time rather than kept.
const MAX_KEPT_QUERY_BYTES: usize = 16 * 1024;

/// A parsed document and what the HTTP layer checks before running it.
pub(crate) struct Parsed {
    pub doc: ExecutableDocument,
    /// The most aliases of one field in one selection set, and that field's name.
    pub aliases: (usize, String),
}

/// The most recently used parsed documents of a node, bounded in number and size.
pub(crate) struct ParsedQueries {
    kept: Mutex<LruCache<String, Arc<Parsed>>>,
}

impl ParsedQueries {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            kept: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The document of `query`, parsed now or earlier; `None` when it does not parse (the
    /// executor then reports the syntax error as it always does).
    pub(crate) fn get(&self, query: &str) -> Option<Arc<Parsed>> {
        if let Some(found) = self.kept.lock().ok()?.get(query) {
            return Some(found.clone());
        }
        let doc = async_graphql::parser::parse_query(query).ok()?;
        let parsed = Arc::new(Parsed {
            aliases: max_aliases_per_field(&doc),
            doc,
        });
        if query.len() <= MAX_KEPT_QUERY_BYTES {
            if let Ok(mut kept) = self.kept.lock() {
                kept.put(query.to_owned(), parsed.clone());
            }
        }
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recent_documents_and_forgets_the_oldest() {
        let q = ParsedQueries::new(2);
        let a = q.get("{ a }").expect("parses");
        assert!(Arc::ptr_eq(&a, &q.get("{ a }").expect("kept")));
        q.get("{ b }").expect("parses");
        q.get("{ c }").expect("parses");
        // "{ a }" was the least recently used of three in a cache of two.
        assert!(!Arc::ptr_eq(&a, &q.get("{ a }").expect("parsed again")));
        assert!(q.get("{ a").is_none());
    }

    #[test]
    fn long_queries_are_not_kept() {
        let q = ParsedQueries::new(4);
        let long = format!("{{ a {} }}", " ".repeat(MAX_KEPT_QUERY_BYTES));
        let first = q.get(&long).expect("parses");
        assert!(!Arc::ptr_eq(&first, &q.get(&long).expect("parses")));
    }
}

//! Request limits async-graphql does not have: aliases per field. Depth and complexity are the
//! schema's own limits; batch size and body size are checked by the HTTP layer.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};

/// The largest number of aliased selections of any one field name in the document.
pub(crate) fn max_aliases_per_field(doc: &ExecutableDocument) -> (usize, String) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut sets: Vec<&SelectionSet> = Vec::new();
    match &doc.operations {
        DocumentOperations::Single(op) => sets.push(&op.node.selection_set.node),
        DocumentOperations::Multiple(ops) => {
            sets.extend(ops.values().map(|op| &op.node.selection_set.node))
        }
    }
    sets.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        *counts.entry(field.node.name.node.as_str()).or_default() += 1;
                    }
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(f) => sets.push(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(name, n)| (n, name.to_owned()))
        .unwrap_or_default()
}

/// The type of the operation a request would run, if the document names one unambiguously.
pub(crate) fn operation_type(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

/// The name of the operation a request would run: the request's `operationName`, else the name
/// of the document's only operation.
pub(crate) fn operation_name<'a>(
    doc: &'a ExecutableDocument,
    requested: Option<&'a str>,
) -> Option<&'a str> {
    // Only a name the document really has: a client cannot mint metric labels at will.
    match (&doc.operations, requested) {
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.keys().find(|k| k.as_str() == name).map(|k| k.as_str())
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.keys().next().map(|k| k.as_str())
        }
        _ => None,
    }
}

/// The operation's name for metrics: the client's name if it is a plain identifier, else the
/// operation type. Names are bounded so a client cannot grow the label set without limit.
pub(crate) fn metric_name(name: Option<&str>, ty: Option<OperationType>) -> String {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            n.to_owned()
        }
        _ => match ty {
            Some(OperationType::Mutation) => "anonymous_mutation".into(),
            Some(OperationType::Subscription) => "anonymous_subscription".into(),
            _ => "anonymous_query".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    #[test]
    fn aliases_are_counted_per_field_across_fragments() {
        let doc = parse_query(
            "query { a: me { id } b: me { id } ...F } fragment F on Query { c: me { x: id y: id } }",
        )
        .unwrap();
        assert_eq!(max_aliases_per_field(&doc), (3, "me".to_owned()));
        assert_eq!(
            max_aliases_per_field(&parse_query("{ me { id } }").unwrap()).0,
            0
        );
    }

    #[test]
    fn operation_types_follow_the_selected_operation() {
        let doc = parse_query("query A { me { id } } mutation B { login }").unwrap();
        assert_eq!(
            operation_type(&doc, Some("B")),
            Some(OperationType::Mutation)
        );
        assert_eq!(operation_type(&doc, Some("A")), Some(OperationType::Query));
        assert_eq!(operation_type(&doc, None), None);
        assert_eq!(operation_name(&doc, Some("B")), Some("B"));
        assert_eq!(operation_name(&doc, Some("Invented")), None);
        let anon = parse_query("{ me { id } }").unwrap();
        assert_eq!(operation_name(&anon, Some("Invented")), None);
    }
}

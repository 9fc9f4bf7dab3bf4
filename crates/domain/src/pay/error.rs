//! Errors of the pay engine. Every error names the offending field with the path used by the
//! vector format (`days[0].meals[1].in`), so a client can point at the exact input.

use thiserror::Error;

/// Why a rule set, a deal or a week of times cannot be paid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayError {
    /// A required field is absent.
    #[error("{}required field is missing", at(.field))]
    Missing { field: String },
    /// A value has the wrong type, is malformed or is out of its allowed range.
    #[error("{}{message}", at(.field))]
    Invalid { field: String, message: String },
    /// The rule set named in a case is not a known preset.
    #[error("{}unknown rule set \"{name}\" (known: {known})", at(.field))]
    UnknownRuleSet {
        field: String,
        name: String,
        known: String,
    },
    /// An option name that no rule set understands.
    #[error("{}unknown option \"{name}\"", at(.field))]
    UnknownOption { field: String, name: String },
    /// A timezone that is not an IANA name.
    #[error("{}unknown timezone \"{name}\"", at(.field))]
    UnknownTimezone { field: String, name: String },
    /// A malformed time, a date out of range, or a local time skipped by a DST change.
    #[error("{}{message}", at(.field))]
    Time { field: String, message: String },
    /// Times that are out of order: wrap before call, overlapping meals, a meal outside the day.
    #[error("{}{message}", at(.field))]
    Order { field: String, message: String },
    /// An amount left the range the engine can represent exactly.
    #[error("{}amount out of range", at(.field))]
    Overflow { field: String },
}

fn at(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl PayError {
    /// Path of the offending field in the vector format, or "" when no single field is at fault.
    pub fn field(&self) -> &str {
        match self {
            PayError::Missing { field }
            | PayError::Invalid { field, .. }
            | PayError::UnknownRuleSet { field, .. }
            | PayError::UnknownOption { field, .. }
            | PayError::UnknownTimezone { field, .. }
            | PayError::Time { field, .. }
            | PayError::Order { field, .. }
            | PayError::Overflow { field } => field,
        }
    }

    /// Places the error inside an enclosing element, e.g. case `[3]` of a list.
    pub fn within(mut self, prefix: &str) -> Self {
        let field = match &mut self {
            PayError::Missing { field }
            | PayError::Invalid { field, .. }
            | PayError::UnknownRuleSet { field, .. }
            | PayError::UnknownOption { field, .. }
            | PayError::UnknownTimezone { field, .. }
            | PayError::Time { field, .. }
            | PayError::Order { field, .. }
            | PayError::Overflow { field } => field,
        };
        *field = join_path(prefix, field);
        self
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        PayError::Missing {
            field: field.into(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        PayError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn time(field: impl Into<String>, message: impl Into<String>) -> Self {
        PayError::Time {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn order(field: impl Into<String>, message: impl Into<String>) -> Self {
        PayError::Order {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn overflow(field: impl Into<String>) -> Self {
        PayError::Overflow {
            field: field.into(),
        }
    }
}

/// Joins two field paths; an index segment (`[2]`) attaches without a dot.
pub(crate) fn join_path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else if field.is_empty() {
        prefix.to_owned()
    } else if field.starts_with('[') {
        format!("{prefix}{field}")
    } else {
        format!("{prefix}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field_and_within_prefixes_it() {
        let e = PayError::order("days[0].wrap", "wrap must be after call");
        assert_eq!(e.to_string(), "days[0].wrap: wrap must be after call");
        let e = e.within("[2]");
        assert_eq!(e.field(), "[2].days[0].wrap");
        assert_eq!(PayError::overflow("").to_string(), "amount out of range");
    }
}

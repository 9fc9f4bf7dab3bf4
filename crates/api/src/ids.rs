//! Opaque global ids for `node(id)` and every `id` field: base64url of "Type:uuid[:uuid]".
//! An id of an object inside a production carries the production, so `node` can find the
//! right schema.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crewtime_domain::{Error, Result};
use uuid::Uuid;

/// Kinds of object that live inside a production's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Department,
    CrewMember,
    CallSheet,
    Punch,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Department,
        Kind::CrewMember,
        Kind::CallSheet,
        Kind::Punch,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Department => "Department",
            Kind::CrewMember => "CrewMember",
            Kind::CallSheet => "CallSheet",
            Kind::Punch => "Punch",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Kind::Department => "a department",
            Kind::CrewMember => "a crew member",
            Kind::CallSheet => "a call sheet",
            Kind::Punch => "a punch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobalId {
    Production(Uuid),
    User(Uuid),
    /// An API token: it lives in the control schema, but belongs to one production.
    ApiToken {
        production: Uuid,
        id: Uuid,
    },
    Tenant {
        kind: Kind,
        production: Uuid,
        id: Uuid,
    },
}

impl GlobalId {
    pub(crate) fn tenant(kind: Kind, production: Uuid, id: Uuid) -> Self {
        GlobalId::Tenant {
            kind,
            production,
            id,
        }
    }

    pub(crate) fn encode(self) -> String {
        let raw = match self {
            GlobalId::Production(id) => format!("Production:{id}"),
            GlobalId::User(id) => format!("User:{id}"),
            GlobalId::ApiToken { production, id } => format!("ApiToken:{production}:{id}"),
            GlobalId::Tenant {
                kind,
                production,
                id,
            } => format!("{}:{production}:{id}", kind.name()),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes an id sent by a client; `field` names the input for the error.
    pub(crate) fn decode(field: &str, id: &str) -> Result<Self> {
        let bad = || Error::invalid(field, "is not a crewtime id");
        let raw = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.split(':');
        let kind = parts.next().ok_or_else(bad)?;
        let mut uuid = || -> Result<Uuid> {
            parts
                .next()
                .and_then(|p| Uuid::parse_str(p).ok())
                .ok_or_else(bad)
        };
        let decoded = match kind {
            "Production" => GlobalId::Production(uuid()?),
            "User" => GlobalId::User(uuid()?),
            "ApiToken" => GlobalId::ApiToken {
                production: uuid()?,
                id: uuid()?,
            },
            other => match Kind::ALL.into_iter().find(|k| k.name() == other) {
                Some(kind) => GlobalId::Tenant {
                    kind,
                    production: uuid()?,
                    id: uuid()?,
                },
                None => return Err(bad()),
            },
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(decoded)
    }

    /// Decodes an id that must name a production.
    pub(crate) fn production(field: &str, id: &str) -> Result<Uuid> {
        match Self::decode(field, id)? {
            GlobalId::Production(p) => Ok(p),
            _ => Err(Error::invalid(field, "is not a production id")),
        }
    }

    /// Decodes an id that must name an API token: (production, id).
    pub(crate) fn api_token(field: &str, id: &str) -> Result<(Uuid, Uuid)> {
        match Self::decode(field, id)? {
            GlobalId::ApiToken { production, id } => Ok((production, id)),
            _ => Err(Error::invalid(field, "is not an API token id")),
        }
    }

    /// Decodes an id that must name an object of `kind`: (production, id).
    pub(crate) fn of(kind: Kind, field: &str, id: &str) -> Result<(Uuid, Uuid)> {
        match Self::decode(field, id)? {
            GlobalId::Tenant {
                kind: k,
                production,
                id,
            } if k == kind => Ok((production, id)),
            _ => Err(Error::invalid(
                field,
                format!("is not {} id", kind.article()),
            )),
        }
    }
}

/// Opaque pagination cursors over UUIDv7 keys.
pub(crate) fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("c:{id}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<Uuid> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("c:").and_then(|u| Uuid::parse_str(u).ok()))
        .ok_or_else(|| Error::invalid("after", "is not a cursor from this list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let p = Uuid::now_v7();
        let d = Uuid::now_v7();
        let mut all = vec![
            GlobalId::Production(p),
            GlobalId::User(d),
            GlobalId::ApiToken {
                production: p,
                id: d,
            },
        ];
        all.extend(Kind::ALL.iter().map(|k| GlobalId::tenant(*k, p, d)));
        for id in all {
            assert_eq!(GlobalId::decode("id", &id.encode()).unwrap(), id);
        }
        for bad in [
            "".to_owned(),
            "!!".to_owned(),
            URL_SAFE_NO_PAD.encode("Production:x"),
            URL_SAFE_NO_PAD.encode(format!("Production:{p}:{d}")),
            URL_SAFE_NO_PAD.encode(format!("Department:{p}")),
            URL_SAFE_NO_PAD.encode(format!("Secret:{p}:{d}")),
        ] {
            assert!(GlobalId::decode("id", &bad).is_err(), "{bad}");
        }
        let dept = GlobalId::tenant(Kind::Department, p, d).encode();
        assert_eq!(GlobalId::of(Kind::Department, "id", &dept).unwrap(), (p, d));
        assert!(GlobalId::of(Kind::Punch, "id", &dept).is_err());
        assert!(GlobalId::api_token("id", &dept).is_err());
        assert_eq!(decode_cursor(&encode_cursor(p)).unwrap(), p);
        assert!(decode_cursor("nope").is_err());
    }
}

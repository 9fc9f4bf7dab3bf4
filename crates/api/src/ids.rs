//! Opaque global ids for `node(id)` and every `id` field: base64url of "Type:uuid[:uuid]".
//! A department id carries its production so `node` can find the right schema.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crewtime_domain::{Error, Result};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobalId {
    Production(Uuid),
    Department { production: Uuid, id: Uuid },
    User(Uuid),
}

impl GlobalId {
    pub(crate) fn encode(self) -> String {
        let raw = match self {
            GlobalId::Production(id) => format!("Production:{id}"),
            GlobalId::Department { production, id } => format!("Department:{production}:{id}"),
            GlobalId::User(id) => format!("User:{id}"),
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
            "Department" => GlobalId::Department {
                production: uuid()?,
                id: uuid()?,
            },
            "User" => GlobalId::User(uuid()?),
            _ => return Err(bad()),
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
        for id in [
            GlobalId::Production(p),
            GlobalId::Department {
                production: p,
                id: d,
            },
            GlobalId::User(d),
        ] {
            assert_eq!(GlobalId::decode("id", &id.encode()).unwrap(), id);
        }
        for bad in [
            "",
            "!!",
            "UHJvZHVjdGlvbjo",
            &URL_SAFE_NO_PAD.encode("Production:x"),
            &URL_SAFE_NO_PAD.encode(format!("Production:{p}:{d}")),
        ] {
            assert!(GlobalId::decode("id", bad).is_err(), "{bad}");
        }
        assert_eq!(decode_cursor(&encode_cursor(p)).unwrap(), p);
        assert!(decode_cursor("nope").is_err());
    }
}

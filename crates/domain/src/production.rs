//! Productions (tenants), departments and the validation of what clients send for them.

use crate::error::{Error, Result};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A production as the control schema knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Production {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub currency: String,
    /// The PostgreSQL schema that holds the production's data. Never taken from client input.
    pub schema_name: String,
    /// Whether department heads may see their department's rates and pay.
    pub rates_visible_to_department_heads: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Production {
    /// The production's timezone; validated on the way in, so a bad stored value is a fault.
    pub fn tz(&self) -> Result<Tz> {
        self.timezone
            .parse::<Tz>()
            .map_err(|_| Error::internal(format!("stored timezone {:?} is invalid", self.timezone)))
    }

    /// The schema name for a production id: derived, fixed-width, safe to quote.
    pub fn schema_name_for(id: Uuid) -> String {
        format!("prod_{}", id.simple())
    }
}

/// A department of a production (Camera, Grip, Electric, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: Uuid,
    pub production_id: Uuid,
    pub name: String,
    pub code: Option<String>,
    /// The department's daily labour budget, for the hot cost report.
    pub daily_budget: Option<rust_decimal::Decimal>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A validated request to create a production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduction {
    pub name: String,
    pub timezone: String,
    pub currency: String,
}

impl NewProduction {
    pub fn parse(name: &str, timezone: &str, currency: &str) -> Result<Self> {
        let name = parse_name("name", name, 200)?;
        let timezone = timezone.trim();
        if timezone.parse::<Tz>().is_err() {
            return Err(Error::invalid(
                "timezone",
                format!("{timezone:?} is not an IANA timezone name such as America/Los_Angeles"),
            ));
        }
        let currency = currency.trim();
        if !ISO_4217.split(' ').any(|c| c == currency) {
            return Err(Error::invalid(
                "currency",
                format!("{currency:?} is not an ISO 4217 currency code such as USD"),
            ));
        }
        Ok(Self {
            name,
            timezone: timezone.to_owned(),
            currency: currency.to_owned(),
        })
    }
}

/// A validated request to create a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDepartment {
    pub name: String,
    pub code: Option<String>,
}

impl NewDepartment {
    pub fn parse(name: &str, code: Option<&str>) -> Result<Self> {
        let name = parse_name("name", name, 100)?;
        let code = match code.map(str::trim) {
            None | Some("") => None,
            Some(c)
                if c.len() <= 16
                    && c.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') =>
            {
                Some(c.to_ascii_uppercase())
            }
            Some(c) => {
                return Err(Error::invalid(
                    "code",
                    format!("{c:?} must be at most 16 letters, digits, '-' or '_'"),
                ))
            }
        };
        Ok(Self { name, code })
    }
}

/// Trims a display name and checks it is present, printable and not too long.
pub fn parse_name(field: &str, raw: &str, max_chars: usize) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if name.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// Active ISO 4217 codes (public list); a production pays in one of them.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL \
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP \
GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF \
KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN \
NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD \
SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES \
VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_input_is_validated_field_by_field() {
        assert!(NewProduction::parse("Feature", "America/Los_Angeles", "USD").is_ok());
        let field = |r: Result<NewProduction>| match r {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(field(NewProduction::parse("  ", "UTC", "USD")), "name");
        assert_eq!(
            field(NewProduction::parse("A", "Mars/Olympus", "USD")),
            "timezone"
        );
        assert_eq!(field(NewProduction::parse("A", "UTC", "usd")), "currency");
        assert_eq!(field(NewProduction::parse("A", "UTC", "XYZ")), "currency");
        assert_eq!(
            field(NewProduction::parse(&"x".repeat(201), "UTC", "USD")),
            "name"
        );
    }

    #[test]
    fn department_codes_are_normalised() {
        let d = NewDepartment::parse(" Camera ", Some("cam")).unwrap();
        assert_eq!(
            (d.name.as_str(), d.code.as_deref()),
            ("Camera", Some("CAM"))
        );
        assert!(NewDepartment::parse("Grip", Some("no spaces")).is_err());
        assert_eq!(NewDepartment::parse("Grip", Some("")).unwrap().code, None);
    }

    #[test]
    fn schema_names_are_derived_from_ids() {
        let id = Uuid::nil();
        assert_eq!(
            Production::schema_name_for(id),
            format!("prod_{}", "0".repeat(32))
        );
    }
}

//! Authenticated encryption of personal data (AES-256-GCM) under a keyring that supports key
//! rotation. Pure computation: the only thing taken from the outside world is randomness for
//! nonces.
//!
//! A sealed value (an *envelope*) is self-describing, so any node holding the right key can
//! open it and a rotation can find what is not yet under the current key:
//!
//! ```text
//! [format = 1][key id: 4 bytes][nonce: 12 bytes][ciphertext + 16-byte tag]
//! ```
//!
//! The associated data binds an envelope to where it belongs — the production, the record (crew
//! member) and the field — and to its own header, so a ciphertext copied into another row or
//! column, or a header edited to name another key, fails authentication instead of decrypting.
//!
//! Nothing here formats a key or a plaintext: `Debug` of [`Key`] and [`Keyring`] shows key ids
//! only, and errors say what failed, never with what.

use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

const FORMAT: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// Separates this use of a key from any other the same key might ever be put to.
const AAD_CONTEXT: &[u8] = b"crewtime/personal-data/v1";

/// The development key used when `CREWTIME_ENCRYPTION_KEY` is unset outside production. It is
/// public (it is right here), so data sealed under it is obfuscated, not protected.
const DEVELOPMENT_KEY: &[u8; 32] = b"crewtime-dev-only-key-not-secret";

/// [`DEVELOPMENT_KEY`] as an operator would configure it, e.g. in
/// `CREWTIME_ENCRYPTION_OLD_KEYS` when moving data off it.
pub const DEVELOPMENT_KEY_HEX: &str =
    "6372657774696d652d6465762d6f6e6c792d6b65792d6e6f742d736563726574";

/// Why a key or an envelope was refused. Deliberately without detail about the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a key must be 64 hex digits (256 bits)")]
    BadKey,
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("the ciphertext is sealed under key {0}, which is not configured")]
    UnknownKey(KeyId),
    #[error(
        "the ciphertext failed authentication (wrong key, wrong record or field, or tampered)"
    )]
    Authentication,
    #[error("encryption failed")]
    Seal,
}

/// A short public name of a key: the first 4 bytes of SHA-256 over a context string and the
/// key, shown as 8 hex digits. It names a key without revealing anything useful about it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    fn of(key: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"crewtime key id\0");
        hasher.update(key);
        let digest = hasher.finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self(id)
    }

    /// Parses the 8-hex-digit form (as stored beside each row).
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = decode_hex(s)?;
        <[u8; KEY_ID_LEN]>::try_from(bytes.as_slice())
            .ok()
            .map(Self)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One AES-256 key, ready to use. The key bytes are zeroed on drop (by the cipher) and never
/// formatted.
#[derive(Clone)]
pub struct Key {
    id: KeyId,
    cipher: Aes256Gcm,
}

impl Key {
    /// A key from 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, CryptoError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(CryptoError::BadKey);
        }
        let bytes = Zeroizing::new(decode_hex(hex).ok_or(CryptoError::BadKey)?);
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        let out = Self::from_bytes(&key);
        key.zeroize();
        Ok(out)
    }

    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self {
            id: KeyId::of(key),
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// Where an envelope belongs: its production, its record and its field.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub production: Uuid,
    pub record: Uuid,
    pub field: &'a str,
}

impl Aad<'_> {
    fn bytes(&self, header: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(AAD_CONTEXT.len() + header.len() + 32 + self.field.len());
        out.extend_from_slice(AAD_CONTEXT);
        out.extend_from_slice(header);
        out.extend_from_slice(self.production.as_bytes());
        out.extend_from_slice(self.record.as_bytes());
        // Last, so its variable length cannot shift the fixed-length parts before it.
        out.extend_from_slice(self.field.as_bytes());
        out
    }
}

/// The current key, which seals, and older keys still accepted for opening.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    old: Vec<Key>,
}

impl Keyring {
    pub fn new(current: Key, old: Vec<Key>) -> Self {
        Self { current, old }
    }

    /// The fixed, public development key (see [`DEVELOPMENT_KEY_HEX`]).
    pub fn development() -> Self {
        Self::new(development_key(), Vec::new())
    }

    pub fn current_id(&self) -> KeyId {
        self.current.id
    }

    /// Ids of the older keys, for reports.
    pub fn old_ids(&self) -> Vec<KeyId> {
        self.old.iter().map(|k| k.id).collect()
    }

    /// Seals `plaintext` under the current key with a fresh random 96-bit nonce.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.seal_with_nonce(aad, plaintext, Nonce::<Aes256Gcm>::generate().into())
    }

    fn seal_with_nonce(
        &self,
        aad: &Aad<'_>,
        plaintext: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut header = [0u8; HEADER_LEN];
        header[0] = FORMAT;
        header[1..1 + KEY_ID_LEN].copy_from_slice(&self.current.id.0);
        header[1 + KEY_ID_LEN..].copy_from_slice(&nonce);
        let aad_bytes = aad.bytes(&header);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens an envelope with whichever configured key it names. The plaintext is zeroed when
    /// dropped.
    pub fn open(&self, aad: &Aad<'_>, envelope: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let id = key_id_of(envelope)?;
        let (header, sealed) = envelope.split_at(HEADER_LEN);
        let nonce: [u8; NONCE_LEN] = header[1 + KEY_ID_LEN..]
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let aad_bytes = aad.bytes(header);
        // Ids are 32 bits, so two configured keys could share one; try each that matches.
        let mut candidates = std::iter::once(&self.current)
            .chain(self.old.iter())
            .filter(|k| k.id == id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(CryptoError::UnknownKey(id));
        }
        for key in candidates {
            if let Ok(plain) = key.cipher.decrypt(
                &nonce.into(),
                Payload {
                    msg: sealed,
                    aad: &aad_bytes,
                },
            ) {
                return Ok(Zeroizing::new(plain));
            }
        }
        Err(CryptoError::Authentication)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("old", &self.old_ids())
            .finish()
    }
}

/// The development key (see [`DEVELOPMENT_KEY_HEX`]).
pub fn development_key() -> Key {
    Key::from_bytes(DEVELOPMENT_KEY)
}

/// The key id an envelope names, without opening it.
pub fn key_id_of(envelope: &[u8]) -> Result<KeyId, CryptoError> {
    if envelope.len() < HEADER_LEN + TAG_LEN || envelope[0] != FORMAT {
        return Err(CryptoError::Malformed);
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&envelope[1..1 + KEY_ID_LEN]);
    Ok(KeyId(id))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

    fn ring(hex: &str) -> Keyring {
        Keyring::new(Key::from_hex(hex).unwrap(), Vec::new())
    }

    fn aad(field: &str) -> Aad<'_> {
        Aad {
            production: Uuid::from_u128(1),
            record: Uuid::from_u128(2),
            field,
        }
    }

    #[test]
    fn a_sealed_value_opens_to_the_plaintext() {
        let r = ring(K1);
        let env = r.seal(&aad("tax_id"), b"123456789").unwrap();
        assert_eq!(
            r.open(&aad("tax_id"), &env).unwrap().as_slice(),
            b"123456789"
        );
        assert_eq!(key_id_of(&env).unwrap(), r.current_id());
        assert_eq!(env.len(), HEADER_LEN + 9 + TAG_LEN);
        assert!(!env.windows(9).any(|w| w == b"123456789"));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let r = ring(K1);
        let a = r.seal(&aad("tax_id"), b"same").unwrap();
        let b = r.seal(&aad("tax_id"), b"same").unwrap();
        assert_ne!(a[1 + KEY_ID_LEN..HEADER_LEN], b[1 + KEY_ID_LEN..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn the_wrong_key_cannot_open() {
        let env = ring(K1).seal(&aad("tax_id"), b"123456789").unwrap();
        // A keyring without the sealing key does not know the id.
        assert_eq!(
            ring(K2).open(&aad("tax_id"), &env),
            Err(CryptoError::UnknownKey(Key::from_hex(K1).unwrap().id()))
        );
        // A header rewritten to name a configured key fails authentication.
        let mut forged = env.clone();
        forged[1..1 + KEY_ID_LEN].copy_from_slice(&Key::from_hex(K2).unwrap().id().0);
        assert_eq!(
            ring(K2).open(&aad("tax_id"), &forged),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn the_wrong_record_or_field_cannot_open() {
        let r = ring(K1);
        let env = r.seal(&aad("tax_id"), b"123456789").unwrap();
        assert_eq!(
            r.open(&aad("bank_account"), &env),
            Err(CryptoError::Authentication)
        );
        let other_record = Aad {
            record: Uuid::from_u128(3),
            ..aad("tax_id")
        };
        assert_eq!(
            r.open(&other_record, &env),
            Err(CryptoError::Authentication)
        );
        let other_production = Aad {
            production: Uuid::from_u128(9),
            ..aad("tax_id")
        };
        assert_eq!(
            r.open(&other_production, &env),
            Err(CryptoError::Authentication)
        );
    }

    #[test]
    fn a_tampered_envelope_cannot_open() {
        let r = ring(K1);
        let env = r.seal(&aad("tax_id"), b"123456789").unwrap();
        for i in [HEADER_LEN - 1, HEADER_LEN, env.len() - 1] {
            let mut bad = env.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                r.open(&aad("tax_id"), &bad),
                Err(CryptoError::Authentication),
                "byte {i}"
            );
        }
        let mut bad_format = env.clone();
        bad_format[0] = 2;
        assert_eq!(
            r.open(&aad("tax_id"), &bad_format),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            r.open(&aad("tax_id"), &env[..HEADER_LEN + TAG_LEN - 1]),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn old_keys_open_and_the_current_key_seals() {
        let old = ring(K1);
        let env = old.seal(&aad("bank_account"), b"acct").unwrap();
        let rotated = Keyring::new(Key::from_hex(K2).unwrap(), vec![Key::from_hex(K1).unwrap()]);
        assert_eq!(
            rotated.open(&aad("bank_account"), &env).unwrap().as_slice(),
            b"acct"
        );
        let resealed = rotated.seal(&aad("bank_account"), b"acct").unwrap();
        assert_eq!(key_id_of(&resealed).unwrap(), rotated.current_id());
        assert!(old.open(&aad("bank_account"), &resealed).is_err());
    }

    #[test]
    fn keys_are_parsed_strictly_and_never_shown() {
        assert_eq!(Key::from_hex("abc").unwrap_err(), CryptoError::BadKey);
        assert_eq!(
            Key::from_hex(&"g".repeat(64)).unwrap_err(),
            CryptoError::BadKey
        );
        assert!(Key::from_hex(&K1.to_uppercase()).is_ok());
        let shown = format!("{:?} {:?}", Key::from_hex(K1).unwrap(), ring(K1));
        assert!(!shown.contains(&K1[..16]), "{shown}");
        let id = Key::from_hex(K1).unwrap().id();
        assert_eq!(id.to_string().len(), 8);
        assert_eq!(KeyId::parse(&id.to_string()), Some(id));
        // The documented hex form is the development key, which differs from others.
        assert_eq!(
            Key::from_hex(DEVELOPMENT_KEY_HEX).unwrap().id(),
            development_key().id()
        );
        assert_ne!(Keyring::development().current_id(), id);
    }
}

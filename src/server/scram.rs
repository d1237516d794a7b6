//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the stored verifier and the
//! server's side of the exchange.
//!
//! A user's password is kept only as a verifier, in PostgreSQL's own format
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`): it lets the server check a
//! client's proof and prove itself, but neither gives the password nor lets anyone log in
//! with it. Channel binding (`-PLUS`) is not offered.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};

/// The SASL mechanism name.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// PostgreSQL's default iteration count.
pub const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// A stored SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(SCRAM-SHA-256)")
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0; KEY_LEN];
    out.copy_from_slice(hmac::sign(&key, data).as_ref());
    out
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    let mut out = [0; KEY_LEN];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Whether two keys are equal, in a time that does not depend on where they differ.
fn same(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `SaltedPassword := Hi(Normalize(password), salt, i)`; a password SASLprep refuses is used
/// as it is, as PostgreSQL does.
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let normalized = stringprep::saslprep(password).unwrap_or(Cow::Borrowed(password));
    let mut out = [0; KEY_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(iterations.max(1)).expect("at least one iteration"),
        salt,
        normalized.as_bytes(),
        &mut out,
    );
    out
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Verifier {
        let salt: [u8; SALT_LEN] = rand::random();
        Verifier::with_salt(password, &salt, ITERATIONS)
    }

    fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = salted_password(password, salt, iterations);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// A verifier no password matches, with a salt that depends only on `user` and `secret`:
    /// what an unknown user is challenged with, so that the exchange looks the same as for a
    /// known user and fails only at the proof.
    pub fn decoy(user: &str, secret: &[u8]) -> Verifier {
        let salt = hmac(secret, user.as_bytes());
        Verifier {
            iterations: ITERATIONS,
            salt: salt[..SALT_LEN].to_vec(),
            stored_key: rand::random(),
            server_key: rand::random(),
        }
    }

    /// Whether `password` is the one this verifier was made from.
    pub fn matches(&self, password: &str) -> bool {
        let other = Verifier::with_salt(password, &self.salt, self.iterations);
        same(&other.stored_key, &self.stored_key)
    }

    /// Read a verifier in PostgreSQL's format.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let bad = || "not a SCRAM-SHA-256 verifier".to_string();
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let iterations: u32 = iterations.parse().ok().filter(|i| *i > 0).ok_or_else(bad)?;
        let key = |b64: &str| -> Result<[u8; KEY_LEN], String> {
            STANDARD
                .decode(b64)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(bad)
        };
        Ok(Verifier {
            iterations,
            salt: STANDARD.decode(salt).map_err(|_| bad())?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// The client's message does not follow the protocol.
    #[error("malformed SCRAM message: {0}")]
    Protocol(&'static str),
    /// The proof is wrong: wrong password, unknown user or a tampered message.
    #[error("the client proof does not match")]
    Proof,
}

/// The server's state after its first message, waiting for the client's final one.
#[derive(Debug)]
pub struct Challenge {
    verifier: Verifier,
    /// `client-first-message-bare + "," + server-first-message`
    auth_prefix: String,
    /// The GS2 header the client sent, which the final message must echo.
    gs2_header: String,
    nonce: String,
}

/// The attribute `name=` of a SCRAM message part.
fn attribute<'a>(part: Option<&'a str>, name: &'static str) -> Result<&'a str, ScramError> {
    part.and_then(|p| p.strip_prefix(name))
        .and_then(|p| p.strip_prefix('='))
        .ok_or(ScramError::Protocol(name))
}

/// Answer the client's first message (`n,,n=user,r=nonce`) with the challenge for `verifier`.
pub fn challenge(
    client_first: &str,
    verifier: Verifier,
) -> Result<(String, Challenge), ScramError> {
    // gs2-header: a channel-binding flag ('n': none; 'y': the client could, but we did not
    // offer it; 'p=…' asks for binding, which is not offered), an optional authzid, then ','.
    let mut parts = client_first.splitn(3, ',');
    let flag = parts.next().ok_or(ScramError::Protocol("gs2 header"))?;
    if flag != "n" && flag != "y" {
        return Err(ScramError::Protocol("channel binding is not supported"));
    }
    let authzid = parts.next().ok_or(ScramError::Protocol("gs2 header"))?;
    // As PostgreSQL: logging in as someone else (an authorization identity) is not supported.
    if !authzid.is_empty() {
        return Err(ScramError::Protocol(
            "an authorization identity is not supported",
        ));
    }
    let bare = parts
        .next()
        .ok_or(ScramError::Protocol("client-first-message-bare"))?;
    let mut attributes = bare.split(',');
    // PostgreSQL ignores the user name here (it is the startup message's); so do we.
    attribute(attributes.next(), "n")?;
    let client_nonce = attribute(attributes.next(), "r")?;
    if client_nonce.is_empty()
        || !client_nonce
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ',')
    {
        return Err(ScramError::Protocol("r"));
    }
    let server_nonce = STANDARD.encode(rand::random::<[u8; 18]>());
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        STANDARD.encode(&verifier.salt),
        verifier.iterations
    );
    Ok((
        server_first.clone(),
        Challenge {
            verifier,
            auth_prefix: format!("{bare},{server_first}"),
            gs2_header: format!("{flag},{authzid},"),
            nonce,
        },
    ))
}

impl Challenge {
    /// Check the client's final message (`c=…,r=…,p=proof`); on success, the server's final
    /// message (`v=signature`), which proves to the client that the server knows its verifier.
    pub fn verify(&self, client_final: &str) -> Result<String, ScramError> {
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or(ScramError::Protocol("p"))?;
        let mut attributes = without_proof.split(',');
        let binding = attribute(attributes.next(), "c")?;
        let nonce = attribute(attributes.next(), "r")?;
        if STANDARD.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::Protocol("c"));
        }
        let proof: [u8; KEY_LEN] = STANDARD
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(ScramError::Protocol("p"))?;
        // A nonce other than this exchange's is a replay: refuse it as a wrong proof.
        let auth_message = format!("{},{without_proof}", self.auth_prefix);
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let mut client_key = [0; KEY_LEN];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let proof_ok = same(&sha256(&client_key), &self.verifier.stored_key);
        if !proof_ok || nonce != self.nonce {
            return Err(ScramError::Proof);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }
}

/// The client's side of the exchange, for tests and tools: its first message, and its final
/// message given the server's first.
pub mod client {
    use super::*;

    /// `n,,n=,r=<nonce>`
    pub fn first(nonce: &str) -> String {
        format!("n,,n=,r={nonce}")
    }

    /// The final message for `password`, and the server signature to expect.
    pub fn last(password: &str, client_first: &str, server_first: &str) -> (String, String) {
        let mut salt = Vec::new();
        let mut iterations = 0;
        let mut nonce = "";
        for part in server_first.split(',') {
            if let Some(s) = part.strip_prefix("s=") {
                salt = STANDARD.decode(s).unwrap_or_default();
            } else if let Some(i) = part.strip_prefix("i=") {
                iterations = i.parse().unwrap_or(0);
            } else if let Some(r) = part.strip_prefix("r=") {
                nonce = r;
            }
        }
        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = sha256(&client_key);
        let without_proof = format!("c={},r={nonce}", STANDARD.encode("n,,"));
        let bare = client_first.trim_start_matches("n,,");
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_signature = hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes());
        (
            format!("{without_proof},p={}", STANDARD.encode(proof)),
            format!("v={}", STANDARD.encode(server_signature)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 §3: user "user", password "pencil".
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::with_salt("pencil", &salt, 4096);
        let client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let (server_first, mut challenge) = challenge(client_first, verifier).unwrap();
        assert!(server_first.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
        // Replay the RFC's server nonce to check the proof and signature bit for bit.
        let rfc_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                         s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        challenge.auth_prefix = format!("n=user,r=rOprNGfwEbeRWgbNEkqO,{rfc_first}");
        challenge.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        let server_final = challenge
            .verify(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                 p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn verifiers_round_trip_in_postgresql_format() {
        let verifier = Verifier::new("s3cret");
        let text = verifier.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        assert!(!text.contains("s3cret"));
        assert_eq!(Verifier::parse(&text).unwrap(), verifier);
        assert!(verifier.matches("s3cret"));
        assert!(!verifier.matches("s3cret "));
        for bad in [
            "",
            "md5abc",
            "SCRAM-SHA-256$x:y$z:w",
            "SCRAM-SHA-256$4096:AA==$AA==:AA==",
        ] {
            assert!(Verifier::parse(bad).is_err(), "{bad}");
        }
        // Two users with one password have different verifiers (salted).
        assert_ne!(
            Verifier::new("same").to_string(),
            Verifier::new("same").to_string()
        );
    }

    #[test]
    fn the_right_password_passes_and_anything_else_fails() {
        let verifier = Verifier::new("correct horse");
        let first = client::first("abcdef0123");
        let exchange = |password: &str, tamper: bool| {
            let (server_first, challenge) = challenge(&first, verifier.clone()).unwrap();
            let (mut last, expected) = client::last(password, &first, &server_first);
            if tamper {
                // Flip one character of the proof.
                let at = last.len() - 5;
                let c = if &last[at..at + 1] == "A" { "B" } else { "A" };
                last.replace_range(at..at + 1, c);
            }
            challenge.verify(&last).map(|v| assert_eq!(v, expected))
        };
        assert_eq!(exchange("correct horse", false), Ok(()));
        assert_eq!(exchange("wrong", false), Err(ScramError::Proof));
        assert_eq!(exchange("correct horse", true), Err(ScramError::Proof));
        // A final message of another exchange (another server nonce) is refused.
        let (server_first, _) = challenge(&first, verifier.clone()).unwrap();
        let (other_last, _) = client::last("correct horse", &first, &server_first);
        let (_, fresh) = challenge(&first, verifier.clone()).unwrap();
        assert_eq!(fresh.verify(&other_last), Err(ScramError::Proof));
        // Decoys never match, and challenge an unknown user with a stable salt.
        let decoy = Verifier::decoy("mallory", b"secret");
        assert!(!decoy.matches(""));
        assert_eq!(decoy.salt, Verifier::decoy("mallory", b"secret").salt);
    }

    #[test]
    fn malformed_messages_are_protocol_errors() {
        let verifier = Verifier::new("x");
        for bad in [
            "",
            "n",
            "p=tls-server-end-point,,n=,r=abc",
            "n,,r=abc",
            "n,,n=,r=",
        ] {
            assert!(
                matches!(
                    challenge(bad, verifier.clone()),
                    Err(ScramError::Protocol(_))
                ),
                "{bad}"
            );
        }
        let (_, challenge) = challenge("n,,n=,r=abc", verifier).unwrap();
        for bad in [
            "",
            "c=biws,r=abc",
            "c=eSws,r=abc,p=AAAA",
            "c=biws,r=abc,p=%%%",
        ] {
            assert!(challenge.verify(bad).is_err(), "{bad}");
        }
    }
}

//! Passwords: the strength levels of POL-1 and argon2 hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// Shortest password accepted at any level.
pub const MIN_LENGTH: usize = 8;
/// Longest password accepted (argon2 input stays bounded).
pub const MAX_LENGTH: usize = 256;

/// POL-1 strength levels, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Fewer than three character classes.
    Weak,
    /// Three classes with some repetition ("Sampla12").
    Good,
    /// Three classes without repetition ("Sample12"), or four with ("Sampla1%").
    Complex,
    /// Four classes without repetition ("Sample1%").
    Excellent,
}

impl Strength {
    /// Stored as a small integer.
    pub fn as_i64(self) -> i64 {
        self as i64
    }
    /// From the stored integer; unknown values read as the strictest level.
    pub fn from_i64(v: i64) -> Self {
        match v {
            0 => Self::Weak,
            1 => Self::Good,
            2 => Self::Complex,
            _ => Self::Excellent,
        }
    }
}

/// The level of `password`, or an error when it is under [`MIN_LENGTH`]
/// characters or over [`MAX_LENGTH`] characters.
pub fn strength(password: &str) -> ApiResult<Strength> {
    if password.chars().count() < MIN_LENGTH {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "password_too_short",
            format!("a password has at least {MIN_LENGTH} characters"),
        ));
    }
    if password.chars().count() > MAX_LENGTH {
        return Err(ApiError::invalid(format!(
            "a password has at most {MAX_LENGTH} characters"
        )));
    }
    let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
    let classes = [
        has(char::is_ascii_lowercase),
        has(char::is_ascii_uppercase),
        has(char::is_ascii_digit),
        has(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let mut seen = std::collections::HashSet::new();
    let repeats = !password.chars().all(|c| seen.insert(c));
    Ok(match (classes, repeats) {
        (4, false) => Strength::Excellent,
        (4, true) | (3, false) => Strength::Complex,
        (3, true) => Strength::Good,
        _ => Strength::Weak,
    })
}

/// Refuses `password` unless it reaches `required`.
pub fn check(password: &str, required: Strength) -> ApiResult<Strength> {
    let got = strength(password)?;
    if got < required {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_weak",
            format!("password strength is {got:?}, at least {required:?} is required"),
        ));
    }
    Ok(got)
}

fn argon() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

/// An argon2id PHC string for `password`.
pub fn hash(password: &str) -> ApiResult<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| ApiError::internal("salt", e))?;
    argon()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal("argon2", e))
}

/// Whether `password` matches the stored PHC string.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.chars().count() > MAX_LENGTH {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => argon()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash nobody's password matches, verified against when the account does
/// not exist so that timing does not reveal which e-mails are registered.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that is never set").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_examples() {
        assert_eq!(strength("Sampla12").unwrap(), Strength::Good);
        assert_eq!(strength("Sample12").unwrap(), Strength::Complex);
        assert_eq!(strength("Sampla1%").unwrap(), Strength::Complex);
        assert_eq!(strength("Sample1%").unwrap(), Strength::Excellent);
        assert_eq!(strength("samplesample").unwrap(), Strength::Weak);
        assert_eq!(strength("Sample1").unwrap_err().code, "password_too_short");
        assert_eq!(strength("Sampl1%").unwrap_err().code, "password_too_short");
    }

    #[test]
    fn levels_are_enforced() {
        assert!(check("Sampla12", Strength::Good).is_ok());
        assert_eq!(
            check("Sampla12", Strength::Complex).unwrap_err().code,
            "password_too_weak"
        );
    }

    #[test]
    fn hashes_verify() {
        let h = hash("Sample1%").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Sample1%", &h));
        assert!(!verify("Sample1&", &h));
        assert!(!verify("x", "not a phc string"));
    }
}

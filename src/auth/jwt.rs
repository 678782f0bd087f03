//! Token verification (docs/roles.md). The algorithm comes from configuration,
//! never from the token; every failure is `UNAUTHENTICATED`.

use super::Role;
use crate::config::{Config, Secret};
use crate::error::{AppError, AppResult};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// A verified token: who it names and until when it is valid.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub subject: String,
    pub role: Role,
    pub name: Option<String>,
    pub email: Option<String>,
    pub expires_at: i64,
}

pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.validation.algorithms)
            .finish()
    }
}

impl JwtKeys {
    /// Keys from configuration. With neither a secret nor a public key, the
    /// secret file beside the database is read, or created when `create`.
    pub fn from_config(config: &Config, create: bool) -> AppResult<Self> {
        let (decoding, encoding, algorithm) = if let Some(path) = &config.jwt_public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                AppError::config(
                    "LEADGRAPH_JWT_PUBLIC_KEY_FILE",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let (key, alg) = public_key(&pem)?;
            (key, None, alg)
        } else {
            let secret = match &config.jwt_secret {
                Some(secret) => secret.clone(),
                None => load_or_create_secret(&config.secret_file(), create)?,
            };
            if secret.0.len() < 32 {
                return Err(AppError::config(
                    "LEADGRAPH_JWT_SECRET",
                    "must be at least 32 bytes",
                ));
            }
            (
                DecodingKey::from_secret(secret.0.as_bytes()),
                Some(EncodingKey::from_secret(secret.0.as_bytes())),
                Algorithm::HS256,
            )
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &config.jwt_issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &config.jwt_audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let keys = JwtKeys {
            decoding,
            encoding,
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
        };
        self_test()?;
        Ok(keys)
    }

    /// Verify a raw token (without the `Bearer ` prefix).
    pub fn verify(&self, token: &str) -> AppResult<VerifiedToken> {
        let data = decode::<serde_json::Value>(token, &self.decoding, &self.validation)
            .map_err(|e| AppError::Unauthenticated(format!("invalid token: {e}")))?;
        let claims = data.claims;
        let text = |key: &str| claims.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        // These claims are stored in the user's row; PostgreSQL refuses NUL
        // in text, so such a token is refused on every database.
        for key in ["sub", "name", "email"] {
            if text(key).is_some_and(|v| v.contains('\0')) {
                return Err(AppError::Unauthenticated(format!(
                    "invalid token: {key} contains a NUL character"
                )));
            }
        }
        let subject = text("sub")
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| AppError::Unauthenticated("invalid token: bad sub".into()))?;
        let role = text("role")
            .and_then(|r| Role::parse(&r))
            .ok_or_else(|| AppError::Unauthenticated("invalid token: unknown role".into()))?;
        let expires_at = claims
            .get("exp")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| AppError::Unauthenticated("invalid token: bad exp".into()))?;
        let clip = |s: Option<String>| s.map(|v| v.chars().take(256).collect::<String>());
        Ok(VerifiedToken {
            subject,
            role,
            name: clip(text("name")),
            email: clip(text("email")),
            expires_at,
        })
    }

    /// Sign a token (HS256 configurations only).
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        ttl_secs: i64,
        name: Option<&str>,
        email: Option<&str>,
    ) -> AppResult<String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or_else(|| {
                AppError::config(
                    "LEADGRAPH_JWT_PUBLIC_KEY_FILE",
                    "tokens can only be minted with an HS256 secret (LEADGRAPH_JWT_SECRET), not with a public key",
                )
            })?;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role: role.code().to_owned(),
            exp: now + ttl_secs,
            iat: Some(now),
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| AppError::internal_from("signing a token", e))
    }
}

fn public_key(pem: &[u8]) -> AppResult<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((key, Algorithm::ES256));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Ok((key, Algorithm::EdDSA));
    }
    Err(AppError::config(
        "LEADGRAPH_JWT_PUBLIC_KEY_FILE",
        "not an RSA, EC P-256 or Ed25519 public key PEM",
    ))
}

fn load_or_create_secret(path: &Path, create: bool) -> AppResult<Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Secret(text.trim().to_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && create => {
            let bytes: [u8; 48] = rand::rng().random();
            let secret =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
            write_private(path, &secret).map_err(|e| {
                AppError::config(
                    "LEADGRAPH_JWT_SECRET",
                    format!("none set, and cannot write {}: {e}", path.display()),
                )
            })?;
            tracing::info!(
                path = %path.display(),
                "created a JWT secret; mint a token with `leadgraph token --role SALES --sub alice@example.com`"
            );
            Ok(Secret(secret))
        }
        Err(err) => Err(AppError::config(
            "LEADGRAPH_JWT_SECRET",
            format!(
                "none set and {} unreadable ({err}); set it or start `leadgraph serve` once",
                path.display()
            ),
        )),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

/// jsonwebtoken panics at the first use when its crypto backend is missing or
/// doubled; find out at start-up, not on the first request.
fn self_test() -> AppResult<()> {
    let result = std::panic::catch_unwind(|| {
        let key = b"leadgraph-self-test-key-of-32-bytes!";
        let claims =
            serde_json::json!({"sub": "self-test", "exp": chrono::Utc::now().timestamp() + 60});
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key),
        )?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        decode::<serde_json::Value>(&token, &DecodingKey::from_secret(key), &validation).map(|_| ())
    });
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AppError::internal(format!("JWT self-test failed: {e}"))),
        Err(_) => Err(AppError::internal(
            "JWT self-test panicked: check jsonwebtoken's crypto backend feature",
        )),
    }
}

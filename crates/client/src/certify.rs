//! A certifier's side: issuing a certificate and revoking one, with every rule an honest node
//! applies checked first, so a mistake is a one-line error here rather than a refusal by the
//! network.

use flashback_types::clock::now;
use flashback_types::trust::parse_claim;
use flashback_types::{
    BoundedVec, Certificate, Claim, Hash32, Kind, Object, ObjectId, PublicKey, Revocation,
    SecretKey, Signed, Text, Timestamp,
};

use crate::{Client, ClientError, Submitted};

/// What a certifier states about a key.
#[derive(Debug, Clone)]
pub struct Certify {
    /// The key certified.
    pub subject: PublicKey,
    /// Claims as written (`name=value`).
    pub claims: Vec<String>,
    /// How long the certificate is valid, seconds (at most 1830 days).
    pub valid_for: u64,
    /// blake3 of the evidence behind it (an audit report), if any.
    pub evidence: Option<Hash32>,
    /// The issuer's serial number (default: the issuing time).
    pub serial: Option<u64>,
}

impl Certify {
    /// The certificate `issuer` would sign at `now`, or what is wrong with it.
    pub fn to_certificate(
        &self,
        issuer: PublicKey,
        now: Timestamp,
    ) -> Result<Certificate, ClientError> {
        if self.subject == issuer {
            return Err(ClientError::InvalidInput(
                "the subject is the certifier's own key: a certificate is about another key \
                 (the network refuses self-issued ones)"
                    .into(),
            ));
        }
        let max = Kind::Certificate.max_lifetime_secs();
        if self.valid_for == 0 || self.valid_for > max {
            return Err(ClientError::InvalidInput(format!(
                "--expires: a certificate is valid for 1 s to {} days",
                max / 86_400
            )));
        }
        if self.claims.is_empty() {
            return Err(ClientError::InvalidInput(
                "a certificate needs a claim: pass --claim name=value".into(),
            ));
        }
        let mut claims = self
            .claims
            .iter()
            .map(|c| parse_claim(c).map_err(|e| ClientError::InvalidInput(e.to_string())))
            .collect::<Result<Vec<Claim>, _>>()?;
        claims.sort();
        claims.dedup();
        let claims = BoundedVec::try_from_vec(claims).map_err(|_| {
            ClientError::InvalidInput("a certificate holds at most 16 claims".into())
        })?;
        Ok(Certificate {
            issuer,
            subject: self.subject,
            claims,
            serial: self.serial.unwrap_or(now),
            evidence: self.evidence,
            created_at: now,
            expires_at: now.saturating_add(self.valid_for),
        })
    }
}

impl Client {
    /// Signs a certificate with `issuer` and submits it.
    pub async fn issue_certificate(
        &self,
        issuer: &SecretKey,
        certify: &Certify,
    ) -> Result<(Signed<Certificate>, Submitted), ClientError> {
        let body = certify.to_certificate(issuer.public(), now())?;
        let signed = Signed::sign(body, issuer).map_err(|e| {
            ClientError::InvalidInput(format!("the certificate is not valid: {}", e.detail))
        })?;
        let submitted = self.submit(&Object::Certificate(signed.clone())).await?;
        Ok((signed, submitted))
    }

    /// Revokes the certificate `id`, which `issuer` must have issued, for `reason`: the
    /// revocation is kept by nodes at least as long as the certificate could count.
    pub async fn revoke_certificate(
        &self,
        issuer: &SecretKey,
        id: ObjectId,
        reason: &str,
    ) -> Result<(Signed<Revocation>, Submitted), ClientError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ClientError::InvalidInput(
                "--reason: say why the certificate is revoked".into(),
            ));
        }
        let reason = Text::new(reason)
            .map_err(|_| ClientError::InvalidInput("--reason: at most 256 bytes".into()))?;
        let cert = match self.get(&[id]).await?.pop() {
            Some(Object::Certificate(c)) => c,
            Some(other) => {
                return Err(ClientError::InvalidInput(format!(
                    "{id} is a {}, not a certificate",
                    other.kind()
                )));
            }
            None => {
                return Err(ClientError::InvalidInput(format!(
                    "the node knows no certificate {id}: check the id (`flashback cert list`)"
                )));
            }
        };
        if cert.body().issuer != issuer.public() {
            return Err(ClientError::InvalidInput(format!(
                "certificate {id} was issued by {}, not by this key: only its issuer can revoke it",
                cert.body().issuer
            )));
        }
        let now = now();
        let body = Revocation {
            issuer: issuer.public(),
            certificate: id,
            reason,
            created_at: now,
            expires_at: cert
                .body()
                .expires_at
                .max(now + 1)
                .min(now + Kind::Revocation.max_lifetime_secs()),
        };
        let signed = Signed::sign(body, issuer).map_err(|e| {
            ClientError::InvalidInput(format!("the revocation is not valid: {}", e.detail))
        })?;
        let submitted = self.submit(&Object::Revocation(signed.clone())).await?;
        Ok((signed, submitted))
    }
}

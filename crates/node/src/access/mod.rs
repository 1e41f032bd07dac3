//! Access to the provider's data plane, per agreement: when the node accepts a proposal it
//! provisions access and hands the credentials back to be sealed to the consumer
//! (`flashback_types::seal`, carried by an `AccessGrant`); at the agreement's end, or when a
//! party terminates it, it revokes them.
//!
//! Provisioners, chosen per offer (decision 0062):
//! - **the reference blob endpoint**, built in: when the offer declares `flashback_blob` and
//!   this node serves the endpoint, a random bearer token per agreement, whose blake3 the
//!   endpoint checks ([`Access::blob_owner`]);
//! - **a hook**, for every other data plane: the command `[access] hooks.<protocol>` (or
//!   `[access] hook`) names, given the agreement as JSON on stdin and answering credentials as
//!   JSON on stdout ([`hook`]); the same command is called with `"action": "revoke"`.
//!
//! An offer with neither is sold without access: the decision says nothing of it and the
//! consumer's client reports that no grant came. What was provisioned is kept in the ledger
//! ([`ledger`]), with no secret in it.

mod hook;
mod ledger;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use flashback_store::Store;
use flashback_types::seal::{AccessCredentials, Secret};
use flashback_types::{
    DataProtocol, Hash32, ObjectId, Offer, PublicKey, ShortText, Signed, SlaProposal, Termination,
    Text, Timestamp,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{NodeError, blocking};
pub(crate) use ledger::RevokeReason;
use ledger::{ACCESS_LEDGER, Entry, Ledger, Provisioner};

/// How long after a failed revocation it is tried again.
const RETRY_SECS: u64 = 30;

/// How long a revoked agreement stays in the ledger after its end (renewals made late still
/// find the data's namespace within it).
const KEEP_REVOKED_SECS: u64 = 7 * 24 * 3600;

/// How the provider's node opens its data plane to consumers (`[access]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// The provisioner command for data protocols with no entry in `hooks` (run with
    /// `/bin/sh -c`): given the agreement as JSON on stdin, it answers credentials as JSON on
    /// stdout (see the user guide, "Access for consumers"). Unset: no hook.
    pub hook: Option<String>,
    /// A provisioner command per data protocol, by name (`s3`, `https`, `sftp`, …); it takes
    /// precedence over `hook`.
    pub hooks: BTreeMap<String, String>,
    /// Seconds a hook may run before it is killed and the call fails (a proposal is then
    /// rejected with the reason `access`).
    pub hook_timeout_secs: u64,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            hook: None,
            hooks: BTreeMap::new(),
            hook_timeout_secs: 30,
        }
    }
}

/// Why access could not be provisioned or revoked (logged by the provider's node; a failed
/// provisioning rejects the proposal with the reason `access`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccessError {
    #[error(transparent)]
    Hook(#[from] hook::HookError),
    #[error("{0}")]
    Node(#[from] NodeError),
    #[error("{0}")]
    Credentials(String),
}

/// Where an offer's access comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Blob,
    Hook(String),
}

/// What a blob token opens: the data's namespace and the room bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobOwner {
    pub(crate) namespace: ObjectId,
    pub(crate) quota: u64,
}

/// The provider's access provisioning: the configuration and the ledger.
pub(crate) struct Access {
    config: AccessConfig,
    /// Whether this node serves the reference blob endpoint.
    blob_endpoint: bool,
    provider: PublicKey,
    path: PathBuf,
    ledger: Mutex<Ledger>,
    /// Revocations that failed: why, and when to try again.
    retries: Mutex<BTreeMap<ObjectId, (RevokeReason, Timestamp)>>,
}

/// A hook's answer (unknown fields are refused, so a misspelt field is an error, not a
/// credential silently left out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HookAnswer {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    access_key: String,
    secret: Zeroizing<String>,
    #[serde(default)]
    expires_at: Timestamp,
}

impl Access {
    /// Loads the ledger from `data_dir`.
    pub(crate) fn open(
        data_dir: &Path,
        config: AccessConfig,
        blob_endpoint: bool,
        provider: PublicKey,
    ) -> Result<Self, NodeError> {
        Ok(Self {
            ledger: Mutex::new(Ledger::load(data_dir)?),
            path: data_dir.join(ACCESS_LEDGER),
            retries: Mutex::new(BTreeMap::new()),
            config,
            blob_endpoint,
            provider,
        })
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // Every change to the ledger is one insert or one field set: a panic elsewhere cannot
        // leave it half-updated.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn save(&self) -> Result<(), NodeError> {
        let text = serde_json::to_vec_pretty(&*self.ledger())
            .map_err(|e| NodeError::Internal(e.to_string()))?;
        let path = self.path.clone();
        blocking(move || ledger::write(&path, &text)).await
    }

    /// The provisioner for `offer`: the blob endpoint when it declares `flashback_blob` and
    /// this node serves it, else the first of its protocols with a hook.
    fn route(&self, offer: &Offer) -> Option<(DataProtocol, Route)> {
        if self.blob_endpoint && offer.protocols.contains(&DataProtocol::FlashbackBlob) {
            return Some((DataProtocol::FlashbackBlob, Route::Blob));
        }
        offer.protocols.iter().find_map(|p| {
            self.config
                .hooks
                .get(p.name())
                .or(self.config.hook.as_ref())
                .map(|command| (p.clone(), Route::Hook(command.clone())))
        })
    }

    /// Provisions access for the agreement `proposal` would make on `offer`: `None` when no
    /// provisioner serves the offer's protocols. Recorded in the ledger before it returns.
    pub(crate) async fn provision(
        &self,
        proposal: &Signed<SlaProposal>,
        offer: &Offer,
    ) -> Result<Option<AccessCredentials>, AccessError> {
        let Some((protocol, route)) = self.route(offer) else {
            return Ok(None);
        };
        let p = proposal.body();
        let id = proposal.id();
        let (namespace, renews) =
            match self
                .ledger()
                .continued(&p.consumer, &offer.offer_key, p.start)
            {
                Some((previous, e)) => (e.namespace, Some(previous)),
                None => (id, None),
            };
        let mut entry = Entry {
            consumer: p.consumer,
            offer_id: p.offer_id,
            offer_key: offer.offer_key.to_string(),
            protocol: protocol.name().to_owned(),
            endpoint: offer.endpoint.to_string(),
            provisioner: Provisioner::Blob,
            namespace,
            renews,
            token_hash: None,
            volume: p.volume,
            start: p.start,
            end: p.end(),
            revoked: None,
        };
        let text = |s: &str, what: &str| {
            Text::new(s).map_err(|e| AccessError::Credentials(format!("{what}: {e}")))
        };
        let short = |s: &str, what: &str| {
            ShortText::new(s).map_err(|e| AccessError::Credentials(format!("{what}: {e}")))
        };
        let credentials = match route {
            Route::Blob => {
                let token = Zeroizing::new(hex::encode(rand::random::<[u8; 32]>()));
                entry.token_hash = Some(Hash32::of(token.as_bytes()));
                AccessCredentials {
                    agreement: id,
                    provider: self.provider,
                    consumer: p.consumer,
                    protocol,
                    endpoint: offer.endpoint.clone(),
                    bucket: short(&namespace.to_string(), "namespace")?,
                    region: ShortText::default(),
                    access_key: Text::default(),
                    secret: Secret::new(token.as_str())
                        .map_err(|e| AccessError::Credentials(e.to_string()))?,
                    expires_at: 0,
                }
            }
            Route::Hook(command) => {
                entry.provisioner = Provisioner::Hook;
                let input = self.hook_input("provision", &id, &entry, None);
                let out = hook::run(&command, &input, self.timeout()).await?;
                let answer: HookAnswer = serde_json::from_slice(&out).map_err(|e| {
                    hook::HookError::BadAnswer(format!(
                        "expected one JSON object with at least \"secret\" ({e})"
                    ))
                })?;
                let endpoint = answer
                    .endpoint
                    .unwrap_or_else(|| offer.endpoint.to_string());
                AccessCredentials {
                    agreement: id,
                    provider: self.provider,
                    consumer: p.consumer,
                    protocol,
                    endpoint: text(&endpoint, "endpoint")?,
                    bucket: short(&answer.bucket, "bucket")?,
                    region: short(&answer.region, "region")?,
                    access_key: text(&answer.access_key, "access_key")?,
                    secret: Secret::new(answer.secret.as_str())
                        .map_err(|e| AccessError::Credentials(format!("secret: {e}")))?,
                    expires_at: answer.expires_at,
                }
            }
        };
        self.ledger().entries.insert(id, entry);
        self.save().await?;
        Ok(Some(credentials))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.hook_timeout_secs.max(1))
    }

    fn hook_input(
        &self,
        action: &str,
        agreement: &ObjectId,
        e: &Entry,
        reason: Option<RevokeReason>,
    ) -> Vec<u8> {
        let input = serde_json::json!({
            "action": action,
            "agreement": agreement.to_string(),
            "namespace": e.namespace.to_string(),
            "renews": e.renews.map(|r| r.to_string()),
            "consumer": e.consumer.to_string(),
            "provider": self.provider.to_string(),
            "offer_id": e.offer_id.to_string(),
            "offer_key": e.offer_key,
            "protocol": e.protocol,
            "endpoint": e.endpoint,
            "volume": e.volume,
            "start": e.start,
            "end": e.end,
            "reason": reason.map(RevokeReason::code),
        });
        let mut bytes = input.to_string().into_bytes();
        bytes.push(b'\n');
        bytes
    }

    /// Revokes access for `agreement` (calling the hook again when a hook provisioned it).
    /// Done already, or never provisioned here: nothing to do.
    pub(crate) async fn revoke(
        &self,
        agreement: &ObjectId,
        reason: RevokeReason,
    ) -> Result<(), AccessError> {
        let entry = match self.ledger().entries.get(agreement) {
            Some(e) if e.revoked.is_none() => e.clone(),
            _ => return Ok(()),
        };
        if entry.provisioner == Provisioner::Hook {
            let command = self
                .config
                .hooks
                .get(&entry.protocol)
                .or(self.config.hook.as_ref())
                .ok_or_else(|| {
                    AccessError::Credentials(format!(
                        "no access hook is configured for {} any more: revoke the consumer's \
                         access by hand",
                        entry.protocol
                    ))
                })?;
            let input = self.hook_input("revoke", agreement, &entry, Some(reason));
            hook::run(command, &input, self.timeout()).await?;
        }
        if let Some(e) = self.ledger().entries.get_mut(agreement) {
            e.revoked = Some((flashback_types::clock::now(), reason));
        }
        self.save().await?;
        tracing::info!(agreement = %agreement, reason = reason.code(), "access revoked");
        Ok(())
    }

    /// Revokes, or schedules again on failure (a broken hook is not called every second).
    async fn revoke_or_retry(&self, id: ObjectId, reason: RevokeReason, now: Timestamp) {
        let retries = || self.retries.lock().unwrap_or_else(|p| p.into_inner());
        match self.revoke(&id, reason).await {
            Ok(()) => {
                retries().remove(&id);
            }
            Err(e) => {
                tracing::warn!(agreement = %id, reason = reason.code(), error = %e, "cannot revoke access; will try again in {RETRY_SECS} s");
                retries().insert(id, (reason, now.saturating_add(RETRY_SECS)));
            }
        }
    }

    /// Revokes every agreement that has ended by `now` and retries failed revocations that
    /// are due, then forgets the long-revoked.
    pub(crate) async fn revoke_ended(&self, now: Timestamp) {
        let mut due: BTreeMap<ObjectId, RevokeReason> = self
            .ledger()
            .ended(now)
            .into_iter()
            .map(|id| (id, RevokeReason::Expired))
            .collect();
        {
            let retries = self.retries.lock().unwrap_or_else(|p| p.into_inner());
            for (id, (reason, at)) in retries.iter() {
                if *at > now {
                    // Not yet: an expiry waits for its retry too.
                    due.remove(id);
                } else {
                    due.insert(*id, *reason);
                }
            }
        }
        for (id, reason) in due {
            self.revoke_or_retry(id, reason, now).await;
        }
        let forgotten = {
            let mut ledger = self.ledger();
            let before = ledger.entries.len();
            ledger.entries.retain(|_, e| {
                e.revoked.is_none() || e.end.saturating_add(KEEP_REVOKED_SECS) > now
            });
            before != ledger.entries.len()
        };
        if forgotten && let Err(e) = self.save().await {
            tracing::warn!(error = %e, "cannot write the access ledger");
        }
    }

    /// Revokes access for the agreement `termination` ends, when it counts: signed by the
    /// agreement's consumer or by this provider.
    pub(crate) async fn on_termination(&self, termination: &Termination) {
        let counts = self
            .ledger()
            .entries
            .get(&termination.agreement)
            .is_some_and(|e| termination.party == e.consumer || termination.party == self.provider);
        if !counts {
            return;
        }
        self.revoke_or_retry(
            termination.agreement,
            RevokeReason::Terminated,
            flashback_types::clock::now(),
        )
        .await;
    }

    /// Revokes what was terminated while the node was away (and retries revocations that
    /// failed): every unrevoked agreement the store holds a counting termination for.
    pub(crate) async fn revoke_terminated(&self, store: &Store) {
        let live: Vec<ObjectId> = {
            let ledger = self.ledger();
            ledger
                .entries
                .iter()
                .filter(|(_, e)| e.revoked.is_none())
                .map(|(id, _)| *id)
                .collect()
        };
        for id in live {
            let store = store.clone();
            let terminations = blocking(move || Ok(store.terminations_of(&id)?)).await;
            match terminations {
                Ok(found) => {
                    for t in found {
                        self.on_termination(t.body()).await;
                    }
                }
                Err(e) => tracing::warn!(agreement = %id, error = %e, "cannot read terminations"),
            }
        }
    }

    /// What the blob token `token` opens at `now`, if it is a live one.
    pub(crate) fn blob_owner(&self, token: &str, now: Timestamp) -> Option<BlobOwner> {
        let hash = Hash32::of(token.as_bytes());
        self.ledger().by_token(&hash, now).map(|e| BlobOwner {
            namespace: e.namespace,
            quota: e.volume,
        })
    }
}

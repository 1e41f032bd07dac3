//! Ids and keys as a person types them: any unique start of at least 8 hex characters
//! (resolved by the node through [`Client::resolve`]), or, where a key is asked for, a key
//! file.

use std::path::Path;

use anyhow::Context;
use flashback_client::{Client, ClientError};
use flashback_types::{Hash32, ObjectId, PublicKey};

use crate::cmd::keys::read_key_file;

/// A public key given as a key file, a whole key, or any unique start of a key the node
/// knows. `what` names the flag in errors.
pub(crate) async fn key(client: &Client, what: &str, text: &str) -> anyhow::Result<PublicKey> {
    let path = Path::new(text);
    if path.is_file() {
        return Ok(read_key_file(path)?.public());
    }
    client
        .resolve_key(text)
        .await
        .with_context(|| format!("{what} {text:?}"))
}

/// An offer id: whole, or any unique start of one the node holds.
pub(crate) async fn offer(client: &Client, what: &str, text: &str) -> anyhow::Result<ObjectId> {
    client
        .resolve_offer(text)
        .await
        .with_context(|| format!("{what} {text:?}"))
}

/// An agreement id (its proposal's id): whole, or any unique start of one the node holds.
pub(crate) async fn agreement(client: &Client, text: &str) -> anyhow::Result<ObjectId> {
    client
        .resolve_agreement(text)
        .await
        .with_context(|| format!("agreement {text:?}"))
}

/// What `--why` names: an offer or a provider.
pub(crate) enum OfferOrKey {
    Offer(ObjectId),
    Key(PublicKey),
}

/// An offer id or a provider key, whole or any unique start of one; a start that matches
/// both an offer and a key is ambiguous.
pub(crate) async fn offer_or_key(
    client: &Client,
    what: &str,
    text: &str,
) -> anyhow::Result<OfferOrKey> {
    let offer = client.resolve_offer(text).await;
    let key = client.resolve_key(text).await;
    let found = match (offer, key) {
        // A whole id is taken as it is by both: keep what parses as a key only if the node
        // has no such offer.
        (Ok(id), Ok(k)) if text.trim().len() == 64 => {
            let held = client
                .get(&[id])
                .await
                .map(|o| !o.is_empty())
                .unwrap_or(false);
            Ok(if held {
                OfferOrKey::Offer(id)
            } else {
                OfferOrKey::Key(k)
            })
        }
        (Ok(id), Ok(k)) => Err(ClientError::Ambiguous {
            noun: "offer or key",
            prefix: text.trim().to_owned(),
            matches: vec![
                format!("offer {}", Hash32::to_string(&id)),
                format!("key {k}"),
            ],
            more: false,
        }),
        (Ok(id), Err(_)) => Ok(OfferOrKey::Offer(id)),
        (Err(_), Ok(k)) => Ok(OfferOrKey::Key(k)),
        (Err(e @ ClientError::Ambiguous { .. }), _)
        | (_, Err(e @ ClientError::Ambiguous { .. })) => Err(e),
        (Err(ClientError::NotFound(_)), Err(ClientError::NotFound(_))) => {
            Err(ClientError::NotFound(format!(
                "no offer or key the node knows starts with {}",
                text.trim()
            )))
        }
        (Err(e), Err(_)) => Err(e),
    };
    found.with_context(|| format!("{what} {text:?}"))
}

//! Ids and keys as people type them: any unique start of at least 8 hex characters, resolved
//! by the node (`QueryRequest::Resolve`), like git's abbreviated hashes.

use flashback_types::wire::{QueryRequest, QueryResponse, truncated};
use flashback_types::{IdPrefix, IdSpace, ObjectId, PublicKey};

use crate::{Client, ClientError};

impl Client {
    /// The one id (or key) of `space` that starts with `text`. A whole id (64 hex characters)
    /// is taken as it is, without asking the node; a shorter prefix must match exactly one id
    /// the node holds: none is [`ClientError::NotFound`], several are
    /// [`ClientError::Ambiguous`] with the matches.
    pub async fn resolve(&self, space: IdSpace, text: &str) -> Result<[u8; 32], ClientError> {
        let prefix: IdPrefix = text.parse().map_err(ClientError::InvalidInput)?;
        if let Some(whole) = prefix.full() {
            return Ok(whole);
        }
        let node = self.first();
        let request = QueryRequest::Resolve {
            space,
            prefix: truncated(prefix.as_str().to_owned()),
        };
        let QueryResponse::Resolved { matches, more } = self.query_node(node, &request).await?
        else {
            return Err(self.wrong(node));
        };
        if matches.iter().any(|m| !prefix.matches(&m.0)) {
            return Err(ClientError::BadResponse {
                node: node.to_string(),
                detail: format!("a match that does not start with {prefix}"),
            });
        }
        match (matches.as_slice(), more) {
            ([one], false) => Ok(one.0),
            ([], _) => Err(ClientError::NotFound(format!(
                "no {} the node knows starts with {prefix}",
                space.noun()
            ))),
            (many, more) => Err(ClientError::Ambiguous {
                noun: space.noun(),
                prefix: prefix.to_string(),
                matches: many.iter().map(ToString::to_string).collect(),
                more,
            }),
        }
    }

    /// [`Client::resolve`] among offer ids.
    pub async fn resolve_offer(&self, text: &str) -> Result<ObjectId, ClientError> {
        self.resolve(IdSpace::Offers, text)
            .await
            .map(flashback_types::Hash32)
    }

    /// [`Client::resolve`] among agreement ids (an agreement is named by its proposal's id).
    pub async fn resolve_agreement(&self, text: &str) -> Result<ObjectId, ClientError> {
        self.resolve(IdSpace::Agreements, text)
            .await
            .map(flashback_types::Hash32)
    }

    /// [`Client::resolve`] among the keys the node knows.
    pub async fn resolve_key(&self, text: &str) -> Result<PublicKey, ClientError> {
        let bytes = self.resolve(IdSpace::Keys, text).await?;
        PublicKey::from_bytes(&bytes)
            .map_err(|e| ClientError::InvalidInput(format!("{text:?} is not a public key: {e}")))
    }
}

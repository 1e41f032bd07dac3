//! Publishing and withdrawing offers without ever equivocating.
//!
//! A provider that signs two different bodies with one `(offer_key, seq)` is flagged as a
//! cheater by every node, with evidence that lives for years; so a client must never do it,
//! however fast it republishes. Before signing, [`Client::publish_offer`] and
//! [`Client::withdraw_offer`] learn the live seq of the offer from the node and read the
//! [`SeqBook`], this key's own record of the highest seq it signed for each offer, and take
//! the next seq above both ([`Offer::next_seq`]: no lower than the clock). The book is written
//! (atomically) before the signed object leaves the process, and the key file is locked while
//! a command publishes, so two commands on one machine take turns. A seq asked for explicitly
//! must be above both too, and a live offer's seq leaves room for its withdrawal
//! ([`Offer::MAX_LIVE_SEQ`]). See `docs/decisions/0052-a-client-never-signs-two-offers-with-one-seq.md`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flashback_types::clock::now;
use flashback_types::keyfile::{Existing, write_secret};
use flashback_types::{Object, Offer, OfferQuery, PublicKey, SecretKey, ShortText, Signed};
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, Submitted};

/// The `format` line of a seq book file.
const FORMAT: &str = "flashback-seq/1";
/// Largest seq book read (about 40 bytes per offer: tens of thousands of offers).
const MAX_BOOK_BYTES: u64 = 4 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BookFile {
    format: String,
    provider: String,
    #[serde(default)]
    offers: BTreeMap<String, u64>,
}

/// One key's record of the highest seq it has signed for each of its offers, kept next to
/// its key file (`<key file>.seq`, TOML). While a book opened from a file is held, the key
/// file is locked (an advisory `flock`), so that two commands publishing with one key on one
/// machine never pick the same seq.
#[derive(Debug)]
pub struct SeqBook {
    provider: PublicKey,
    last: BTreeMap<String, u64>,
    file: Option<(PathBuf, File)>,
}

impl SeqBook {
    /// The book of the key in `key_file` (`<key_file>.seq`; empty when there is none yet).
    /// Waits for any other holder of the key file's lock.
    pub fn open(key_file: &Path, provider: PublicKey) -> Result<Self, ClientError> {
        let io = |what: &str, path: &Path, e: std::io::Error| {
            ClientError::InvalidInput(format!("cannot {what} {}: {e}", path.display()))
        };
        let lock = File::open(key_file).map_err(|e| io("open", key_file, e))?;
        lock.lock().map_err(|e| io("lock", key_file, e))?;
        let path = Self::path_for(key_file);
        let last = match File::open(&path) {
            Ok(file) => read_book(file, &path, provider)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io("read", &path, e)),
        };
        Ok(Self {
            provider,
            last,
            file: Some((path, lock)),
        })
    }

    /// A book kept in memory only, for a program that lives as long as its key's use (the
    /// testnet runner) or keeps its own records.
    pub fn in_memory(provider: PublicKey) -> Self {
        Self {
            provider,
            last: BTreeMap::new(),
            file: None,
        }
    }

    /// Where the book of `key_file` is kept.
    pub fn path_for(key_file: &Path) -> PathBuf {
        let mut name = key_file.as_os_str().to_owned();
        name.push(".seq");
        PathBuf::from(name)
    }

    /// The highest seq recorded for `offer_key`.
    pub fn last(&self, offer_key: &str) -> Option<u64> {
        self.last.get(offer_key).copied()
    }

    /// Records `seq` for `offer_key` and makes it durable, before anything is signed with it.
    fn record(&mut self, offer_key: &str, seq: u64) -> Result<(), ClientError> {
        let entry = self.last.entry(offer_key.to_owned()).or_insert(seq);
        *entry = (*entry).max(seq);
        let Some((path, _)) = &self.file else {
            return Ok(());
        };
        let text = toml::to_string(&BookFile {
            format: FORMAT.into(),
            provider: self.provider.to_string(),
            offers: self.last.clone(),
        })
        .map_err(|e| ClientError::InvalidInput(format!("cannot write the seq book: {e}")))?;
        let text = format!(
            "# The highest seq this key has signed for each of its offers. Keep it next to the \
             key file:\n# it keeps the key from signing two versions of an offer with one seq.\n{text}"
        );
        write_secret(path, text.as_bytes(), Existing::Replace)
            .map_err(|e| ClientError::InvalidInput(format!("cannot write {}: {e}", path.display())))
    }
}

fn read_book(
    file: File,
    path: &Path,
    provider: PublicKey,
) -> Result<BTreeMap<String, u64>, ClientError> {
    let bad = |why: String| {
        ClientError::InvalidInput(format!(
            "{}: {why}; it records the seqs this key signed: fix it, or move it away (the \
             node's live seqs and the clock then guide the next seq)",
            path.display()
        ))
    };
    let mut text = String::new();
    file.take(MAX_BOOK_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("unreadable ({e})")))?;
    if text.len() as u64 > MAX_BOOK_BYTES {
        return Err(bad(format!("larger than {MAX_BOOK_BYTES} bytes")));
    }
    let book: BookFile = toml::from_str(&text).map_err(|e| bad(e.message().to_owned()))?;
    if book.format != FORMAT {
        return Err(bad(format!("unknown format {:?}", book.format)));
    }
    if book.provider != provider.to_string() {
        return Err(bad(format!(
            "it belongs to key {}, not {provider}",
            book.provider
        )));
    }
    Ok(book.offers)
}

/// A published offer.
#[derive(Debug, Clone)]
pub struct Published {
    /// The signed offer.
    pub offer: Signed<Offer>,
    /// What the node did with it.
    pub submitted: Submitted,
    /// The seq of the version it replaced, if the node held one.
    pub replaced: Option<u64>,
}

/// The outcome of a withdrawal.
#[derive(Debug, Clone)]
pub enum Withdrawn {
    /// The tombstone was signed and accepted.
    Now {
        /// The signed tombstone.
        tombstone: Signed<Offer>,
        /// What the node did with it.
        submitted: Submitted,
    },
    /// The node already lists the offer as withdrawn: nothing was signed.
    Already(Signed<Offer>),
}

impl Client {
    /// The current version of `provider`'s offer `offer_key` on the node (possibly a
    /// tombstone), verified.
    pub async fn current_offer(
        &self,
        provider: PublicKey,
        offer_key: &str,
    ) -> Result<Option<Signed<Offer>>, ClientError> {
        let key = ShortText::try_from(offer_key)
            .map_err(|e| ClientError::InvalidInput(format!("offer key {offer_key:?}: {e}")))?;
        let page = self
            .query_offers(&OfferQuery {
                provider: Some(provider),
                offer_key: Some(key),
                include_withdrawn: true,
                limit: 1,
                ..OfferQuery::default()
            })
            .await?;
        match page.offers.into_iter().next() {
            Some(o)
                if o.body().provider == provider && o.body().offer_key.as_str() == offer_key =>
            {
                Ok(Some(o))
            }
            Some(_) => Err(ClientError::BadResponse {
                node: self.first().to_string(),
                detail: "another offer than the one asked for".into(),
            }),
            None => Ok(None),
        }
    }

    /// Signs `body` (an offer of `key`) and publishes it through the node, at `seq` if given
    /// (refused unless it is above every seq this key signed for the offer and the node's
    /// live one), else at the next free seq ([`Offer::next_seq`]). `book` is the key's record
    /// of its seqs, updated before signing.
    pub async fn publish_offer(
        &self,
        key: &SecretKey,
        mut body: Offer,
        seq: Option<u64>,
        book: &mut SeqBook,
    ) -> Result<Published, ClientError> {
        check_key(key, &body, book)?;
        let offer_key = body.offer_key.as_str().to_owned();
        let live = self.current_offer(body.provider, &offer_key).await?;
        let live_seq = live.as_ref().map(|o| o.body().seq);
        let taken = Taken::new(live_seq, book.last(&offer_key));
        body.seq = match seq {
            Some(asked) => {
                if let Some(t) = taken.highest().filter(|t| asked <= *t) {
                    return Err(ClientError::Conflict(format!(
                        "seq {asked} is taken for offer {offer_key:?}: {}; use seq {} or more, or \
                         leave the seq out to take the next free one",
                        taken.describe(),
                        t.saturating_add(1)
                    )));
                }
                if asked > Offer::MAX_LIVE_SEQ {
                    return Err(ClientError::InvalidInput(format!(
                        "seq {asked} leaves no seq for the offer's withdrawal: a live offer's seq \
                         is at most {}",
                        Offer::MAX_LIVE_SEQ
                    )));
                }
                asked
            }
            None => Offer::next_seq(taken.highest(), now(), false).ok_or_else(|| {
                ClientError::Conflict(format!(
                    "offer {offer_key:?} has no seq left ({}): publish it under another offer key",
                    taken.describe()
                ))
            })?,
        };
        book.record(&offer_key, body.seq)?;
        let offer = Signed::sign(body, key)
            .map_err(|e| ClientError::InvalidInput(format!("offer is not valid: {}", e.detail)))?;
        let submitted = self.submit(&Object::Offer(offer.clone())).await?;
        Ok(Published {
            offer,
            submitted,
            replaced: live_seq,
        })
    }

    /// Withdraws `key`'s offer `offer_key`: signs the tombstone of the node's current version
    /// ([`Offer::withdrawal`], above every seq in `book` too) and submits it. Nothing is signed
    /// when the node already lists the offer as withdrawn.
    pub async fn withdraw_offer(
        &self,
        key: &SecretKey,
        offer_key: &str,
        book: &mut SeqBook,
    ) -> Result<Withdrawn, ClientError> {
        let provider = key.public();
        if book.provider != provider {
            return Err(ClientError::InvalidInput(
                "the seq book belongs to another key".into(),
            ));
        }
        let current = self
            .current_offer(provider, offer_key)
            .await?
            .ok_or_else(|| {
                ClientError::NotFound(format!(
                    "the node knows no offer {offer_key:?} from {provider}: check the offer key \
                     and the provider key"
                ))
            })?;
        if current.body().withdrawn {
            return Ok(Withdrawn::Already(current));
        }
        let taken = Taken::new(Some(current.body().seq), book.last(offer_key));
        let body = current
            .body()
            .withdrawal(now(), taken.highest())
            .ok_or_else(|| {
                ClientError::Conflict(format!(
                    "offer {offer_key:?} has no seq left for its withdrawal ({})",
                    taken.describe()
                ))
            })?;
        book.record(offer_key, body.seq)?;
        let tombstone = Signed::sign(body, key).map_err(|e| {
            ClientError::InvalidInput(format!("the tombstone is not valid: {}", e.detail))
        })?;
        let submitted = self.submit(&Object::Offer(tombstone.clone())).await?;
        Ok(Withdrawn::Now {
            tombstone,
            submitted,
        })
    }
}

fn check_key(key: &SecretKey, body: &Offer, book: &SeqBook) -> Result<(), ClientError> {
    if body.provider != key.public() || book.provider != key.public() {
        return Err(ClientError::InvalidInput(
            "the offer, the signing key and the seq book must belong to one provider".into(),
        ));
    }
    Ok(())
}

/// The seqs already taken for one offer: on the node, and in this key's book.
struct Taken {
    live: Option<u64>,
    signed: Option<u64>,
}

impl Taken {
    fn new(live: Option<u64>, signed: Option<u64>) -> Self {
        Self { live, signed }
    }

    fn highest(&self) -> Option<u64> {
        self.live.max(self.signed)
    }

    fn describe(&self) -> String {
        let live = self.live.map_or_else(
            || "the node lists no version".to_owned(),
            |s| format!("the node's live seq is {s}"),
        );
        match self.signed {
            Some(s) if Some(s) > self.live => {
                format!("{live}, and this key has signed seq {s} (its seq book)")
            }
            _ => live,
        }
    }
}

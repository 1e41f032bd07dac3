//! Settlement: turning the best voucher of an agreement into money. The protocol carries signed
//! promises (vouchers); a [`Settlement`] adapter redeems them where the money is. The one
//! built here, [`LocalLedger`], is a durable ledger on disk (sled, flushed before it answers)
//! for tests and testnets; `docs/SETTLEMENT.md` plans the Stellar and Starknet adapters, which
//! redeem the same vouchers.
//!
//! Redeeming is idempotent and monotonic, like a one-way payment channel: an agreement's
//! escrow pays the provider the voucher's cumulative amount minus what earlier redemptions
//! paid, never more than was funded, and a voucher at or below what was already redeemed pays
//! nothing.

use std::path::Path;

use flashback_types::payments::check_voucher_terms;
use flashback_types::{Agreement, Object, ObjectId, PaymentVoucher, PublicKey, Signed};

/// What a settlement adapter can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// The voucher does not verify, or does not count for the agreement.
    #[error("voucher refused: {0}")]
    Refused(String),
    /// The escrow holds less than the voucher asks.
    #[error(
        "agreement {agreement} is funded with {funded} {asset}, the voucher asks {asked}: fund it first"
    )]
    Underfunded {
        /// The agreement.
        agreement: ObjectId,
        /// The asset.
        asset: String,
        /// Funded so far.
        funded: u64,
        /// Cumulative amount asked.
        asked: u64,
    },
    /// The ledger could not be read or written.
    #[error("ledger: {0}")]
    Ledger(String),
}

/// An agreement's escrow after a settlement operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Escrow {
    /// Funded by the consumer so far.
    pub funded: u64,
    /// Paid to the provider so far (the highest voucher redeemed).
    pub redeemed: u64,
}

/// Where money moves: fund an agreement's escrow, redeem its best voucher, read a balance.
pub trait Settlement {
    /// The consumer adds `amount` of the agreement's asset to its escrow.
    fn fund(&self, agreement: &Agreement, amount: u64) -> Result<Escrow, SettlementError>;

    /// The provider redeems `voucher` (its encoded bytes, verified here): pays the cumulative
    /// amount above what was redeemed before, and returns the amount paid by this call.
    fn redeem(&self, agreement: &Agreement, voucher: &[u8]) -> Result<u64, SettlementError>;

    /// `account`'s balance of `asset`.
    fn balance(&self, account: &PublicKey, asset: &str) -> Result<u64, SettlementError>;

    /// The agreement's escrow.
    fn escrow(&self, agreement: &ObjectId) -> Result<Escrow, SettlementError>;
}

/// A durable local ledger: balances per `(key, asset)` and escrows per agreement in a sled
/// database, every change flushed before the call returns.
pub struct LocalLedger {
    db: sled::Db,
}

impl std::fmt::Debug for LocalLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLedger").finish_non_exhaustive()
    }
}

fn ledger_err(e: impl std::fmt::Display) -> SettlementError {
    SettlementError::Ledger(e.to_string())
}

fn balance_key(account: &PublicKey, asset: &str) -> Vec<u8> {
    let mut k = b"b/".to_vec();
    k.extend_from_slice(account.as_bytes());
    k.extend_from_slice(asset.as_bytes());
    k
}

fn escrow_key(agreement: &ObjectId) -> Vec<u8> {
    let mut k = b"e/".to_vec();
    k.extend_from_slice(&agreement.0);
    k
}

fn read_u64s<const N: usize>(v: Option<sled::IVec>) -> Result<[u64; N], SettlementError> {
    let mut out = [0u64; N];
    if let Some(v) = v {
        if v.len() != 8 * N {
            return Err(ledger_err("corrupt entry"));
        }
        for (i, chunk) in v.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            out[i] = u64::from_be_bytes(b);
        }
    }
    Ok(out)
}

fn write_u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

impl LocalLedger {
    /// Opens (or creates) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, SettlementError> {
        let db = sled::open(path).map_err(ledger_err)?;
        Ok(Self { db })
    }

    /// Credits `amount` of `asset` to `account` out of thin air: how a testnet hands its
    /// consumers money.
    pub fn mint(
        &self,
        account: &PublicKey,
        asset: &str,
        amount: u64,
    ) -> Result<u64, SettlementError> {
        let key = balance_key(account, asset);
        let [held] = read_u64s::<1>(self.db.get(&key).map_err(ledger_err)?)?;
        let now = held.saturating_add(amount);
        self.db
            .insert(key, write_u64s(&[now]))
            .map_err(ledger_err)?;
        self.db.flush().map_err(ledger_err)?;
        Ok(now)
    }
}

impl Settlement for LocalLedger {
    fn fund(&self, agreement: &Agreement, amount: u64) -> Result<Escrow, SettlementError> {
        let asset = agreement.proposal().body().price.asset.as_str().to_owned();
        let from = balance_key(agreement.consumer(), &asset);
        let at = escrow_key(&agreement.proposal_id());
        let result = self
            .db
            .transaction(|tx| {
                let [held] = read_u64s::<1>(tx.get(&from)?)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                if held < amount {
                    return sled::transaction::abort(SettlementError::Underfunded {
                        agreement: agreement.proposal_id(),
                        asset: asset.clone(),
                        funded: held,
                        asked: amount,
                    });
                }
                let [funded, redeemed] = read_u64s::<2>(tx.get(&at)?)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                let escrow = Escrow {
                    funded: funded.saturating_add(amount),
                    redeemed,
                };
                tx.insert(from.as_slice(), write_u64s(&[held - amount]))?;
                tx.insert(at.as_slice(), write_u64s(&[escrow.funded, escrow.redeemed]))?;
                Ok(escrow)
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(e) => e,
                sled::transaction::TransactionError::Storage(e) => ledger_err(e),
            })?;
        self.db.flush().map_err(ledger_err)?;
        Ok(result)
    }

    fn redeem(&self, agreement: &Agreement, voucher: &[u8]) -> Result<u64, SettlementError> {
        let v: Signed<PaymentVoucher> = match Object::decode(voucher) {
            Ok(Object::PaymentVoucher(v)) => v,
            Ok(other) => {
                return Err(SettlementError::Refused(format!(
                    "a {} is not a voucher",
                    other.kind()
                )));
            }
            Err(e) => return Err(SettlementError::Refused(e.to_string())),
        };
        check_voucher_terms(v.body(), agreement)
            .map_err(|e| SettlementError::Refused(e.to_string()))?;
        let b = v.body();
        let to = balance_key(&b.provider, b.asset.as_str());
        let at = escrow_key(&b.agreement);
        let paid = self
            .db
            .transaction(|tx| {
                let [funded, redeemed] = read_u64s::<2>(tx.get(&at)?)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                if b.cumulative <= redeemed {
                    return Ok(0);
                }
                if b.cumulative > funded {
                    return sled::transaction::abort(SettlementError::Underfunded {
                        agreement: b.agreement,
                        asset: b.asset.as_str().to_owned(),
                        funded,
                        asked: b.cumulative,
                    });
                }
                let pay = b.cumulative - redeemed;
                let [held] = read_u64s::<1>(tx.get(&to)?)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                tx.insert(to.as_slice(), write_u64s(&[held.saturating_add(pay)]))?;
                tx.insert(at.as_slice(), write_u64s(&[funded, b.cumulative]))?;
                Ok(pay)
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(e) => e,
                sled::transaction::TransactionError::Storage(e) => ledger_err(e),
            })?;
        self.db.flush().map_err(ledger_err)?;
        Ok(paid)
    }

    fn balance(&self, account: &PublicKey, asset: &str) -> Result<u64, SettlementError> {
        let [held] = read_u64s::<1>(
            self.db
                .get(balance_key(account, asset))
                .map_err(ledger_err)?,
        )?;
        Ok(held)
    }

    fn escrow(&self, agreement: &ObjectId) -> Result<Escrow, SettlementError> {
        let [funded, redeemed] =
            read_u64s::<2>(self.db.get(escrow_key(agreement)).map_err(ledger_err)?)?;
        Ok(Escrow { funded, redeemed })
    }
}

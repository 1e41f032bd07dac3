//! The demand a deal publishes, and the price cap it carries.

use super::*;

/// The highest unit price (per GiB-month or unit-hour) whose total for `volume` over
/// `duration_secs` stays within `budget`; `u64::MAX` without a budget.
pub fn max_unit_price(
    unit: PriceUnit,
    volume: u64,
    duration_secs: u64,
    budget: Option<u64>,
) -> u64 {
    let Some(budget) = budget else {
        return u64::MAX;
    };
    let scale = match unit {
        PriceUnit::GibMonth => u128::from(GIB) * u128::from(MONTH_SECS),
        PriceUnit::UnitHour => u128::from(HOUR_SECS),
    };
    let per = u128::from(volume.max(1)) * u128::from(duration_secs.max(1));
    u64::try_from(u128::from(budget) * scale / per).unwrap_or(u64::MAX)
}

/// The demand for `req` (replicas only), signed later by `consumer`: the request's kind,
/// volume, duration, regions and QoS floors, the protocols given, and a maximum unit price
/// that keeps one copy within the budget.
pub fn demand_for(
    req: &Request,
    consumer: PublicKey,
    protocols: &[DataProtocol],
    now: Timestamp,
    lifetime: Duration,
) -> Result<Demand, ClientError> {
    let Redundancy::Replicas(r) = req.redundancy else {
        return Err(ClientError::InvalidInput(
            "a deal is made of full copies: use --replicas, not --shards".into(),
        ));
    };
    let unit = PriceUnit::for_kind(req.kind);
    let mut regions: Vec<ShortText> = req.regions.clone();
    regions.sort();
    regions.dedup();
    let mut protocols = protocols.to_vec();
    protocols.sort();
    protocols.dedup();
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&SecretKey::generate().public().as_bytes()[..8]);
    Ok(Demand {
        consumer,
        kind: req.kind,
        volume: req.volume,
        duration_secs: req.duration_secs,
        redundancy: r,
        qos: QosTargets {
            availability_bp: req.min_availability_bp.unwrap_or(0),
            p95_latency_ms: req.max_p95_latency_ms.unwrap_or(0),
            durability_nines: 0,
            throughput_bytes_per_sec: req.min_throughput.unwrap_or(0),
        },
        regions: BoundedVec::try_from_vec(regions).map_err(|e| {
            ClientError::InvalidInput(format!("a demand names at most 16 regions: {e}"))
        })?,
        protocols: BoundedVec::try_from_vec(protocols).map_err(|e| {
            ClientError::InvalidInput(format!("a demand names at most 8 protocols: {e}"))
        })?,
        max_price: Price {
            amount: max_unit_price(unit, req.volume, req.duration_secs, req.budget),
            asset: req.asset.clone(),
            unit,
        },
        nonce: u64::from_le_bytes(nonce),
        created_at: now,
        expires_at: now + lifetime.as_secs().max(1),
    })
}

//! Test vectors (`docs/vectors/`), regenerated from the code on every run and compared with the
//! files: the document and the code cannot drift. `FLASHBACK_REGEN_VECTORS=1` rewrites the files
//! instead of comparing (then review the diff).
//!
//! - `objects.json`: one object of each kind (an exhaustive `match` on [`Kind`], so a new kind
//!   does not compile without its vector): the fields, the body bytes, the signing digest, the
//!   signature from a fixed **test-only** key, the whole encoding and the id.
//! - `messages.json`: one message of each variant of every request-response protocol, with its
//!   bytes and its length-prefixed frame.
//! - `invalid.json`: one input per validation rule (§4 of `docs/PROTOCOL.md`) that breaks that
//!   rule and no earlier one. The stateful rules (`duplicate`, `superseded`, `equivocation` and
//!   the payment rules) list
//!   the objects the store holds first; `crates/store/tests/vectors.rs` checks those against a
//!   real store.
//! - `digests.json`: the sync digests (per provider, per kind, listing) over the sample objects.
//! - `EXAMPLES.md`: the worked hex examples that `docs/PROTOCOL.md` §8 points to, field by field.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

use flashback_types::digest::{ListingDigest, kind_digest, provider_digest};
use flashback_types::protocol::{Protocol, Topic};
use flashback_types::trust::{Issuer, Requirement};
use flashback_types::wire::*;
use flashback_types::*;

/// The instant every vector is made and checked at.
const NOW: Timestamp = 1_800_000_000;

/// No ids (a kind the store holds none of).
const NO_IDS: [ObjectId; 0] = [];

/// Test-only key seeds: `SecretKey::from_seed(&[seed; 32])`. Never use these keys for anything
/// but checking an implementation against the vectors.
const PROVIDER: u8 = 1;
const CONSUMER: u8 = 2;
const ISSUER: u8 = 3;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The sample objects every vector is built from.
struct Samples {
    offer: Signed<Offer>,
    offer_b: Signed<Offer>,
    demand: Signed<Demand>,
    proposal: Signed<SlaProposal>,
    decision: Signed<SlaDecision>,
    agreement: Agreement,
    attestation: Signed<QosAttestation>,
    certificate: Signed<Certificate>,
    revocation: Signed<Revocation>,
    evidence: EquivocationEvidence,
    termination: Signed<Termination>,
    grant: Signed<AccessGrant>,
    quote: Signed<Quote>,
    voucher: Signed<PaymentVoucher>,
    dispute: Signed<Dispute>,
    ruling: Signed<Ruling>,
}

fn samples() -> Samples {
    let (p, c, i) = (key(PROVIDER), key(CONSUMER), key(ISSUER));
    let mut offer_body = samples::offer(p.public(), "eu-hot", 1, NOW);
    offer_body.protocols = BoundedVec::try_from(vec![
        DataProtocol::S3,
        DataProtocol::Https,
        DataProtocol::Other("nfs".try_into().unwrap()),
        DataProtocol::Other("webdav".try_into().unwrap()),
    ])
    .unwrap();
    let offer = Signed::sign(offer_body.clone(), &p).unwrap();
    let mut second = offer_body;
    second.capacity /= 2;
    let offer_b = Signed::sign(second, &p).unwrap();
    let demand = Signed::sign(samples::demand(c.public(), NOW), &c).unwrap();
    let proposal = Signed::sign(
        samples::proposal(c.public(), offer.body(), offer.id(), GIB, MONTH_SECS, NOW),
        &c,
    )
    .unwrap();
    let decision = Signed::sign(
        samples::decision(proposal.body(), proposal.id(), Decision::Accept, NOW),
        &p,
    )
    .unwrap();
    let agreement = Agreement::from_parts(proposal.clone(), decision.clone()).unwrap();
    let attestation = Signed::sign(
        samples::attestation(c.public(), p.public(), Some(proposal.id()), 10, 9, NOW),
        &c,
    )
    .unwrap();
    let certificate = Signed::sign(
        samples::certificate(i.public(), p.public(), "tier", "2", NOW),
        &i,
    )
    .unwrap();
    let revocation =
        Signed::sign(samples::revocation(i.public(), certificate.id(), NOW), &i).unwrap();
    let evidence = EquivocationEvidence::from_offers(offer.clone(), offer_b.clone()).unwrap();
    let termination =
        Signed::sign(samples::termination(c.public(), proposal.id(), NOW), &c).unwrap();
    let grant = Signed::sign(
        samples::access_grant(p.public(), c.public(), proposal.id(), NOW),
        &p,
    )
    .unwrap();
    let quote = Signed::sign(
        samples::quote(p.public(), c.public(), demand.id(), offer.id(), NOW),
        &p,
    )
    .unwrap();
    let voucher = Signed::sign(samples::voucher(&agreement, 100, 1, NOW), &c).unwrap();
    let dispute = Signed::sign(samples::dispute(p.public(), proposal.id(), NOW), &p).unwrap();
    let ruling = Signed::sign(
        samples::ruling(
            i.public(),
            dispute.id(),
            proposal.id(),
            Party::Provider,
            100,
            NOW,
        ),
        &i,
    )
    .unwrap();
    Samples {
        quote,
        voucher,
        dispute,
        ruling,
        offer,
        offer_b,
        demand,
        proposal,
        decision,
        agreement,
        attestation,
        certificate,
        revocation,
        evidence,
        termination,
        grant,
    }
}

/// The sample of each kind. Exhaustive: a new kind needs its sample here.
fn sample(s: &Samples, kind: Kind) -> Object {
    match kind {
        Kind::Offer => s.offer.clone().into(),
        Kind::Demand => s.demand.clone().into(),
        Kind::SlaProposal => s.proposal.clone().into(),
        Kind::SlaDecision => s.decision.clone().into(),
        Kind::Agreement => s.agreement.clone().into(),
        Kind::QosAttestation => s.attestation.clone().into(),
        Kind::Certificate => s.certificate.clone().into(),
        Kind::Revocation => s.revocation.clone().into(),
        Kind::EquivocationEvidence => s.evidence.clone().into(),
        Kind::Termination => s.termination.clone().into(),
        Kind::AccessGrant => s.grant.clone().into(),
        Kind::Quote => s.quote.clone().into(),
        Kind::PaymentVoucher => s.voucher.clone().into(),
        Kind::Dispute => s.dispute.clone().into(),
        Kind::Ruling => s.ruling.clone().into(),
    }
}

/// A JSON view of `value` in which byte strings (arrays of at least 16 numbers 0–255) read as
/// `{"hex": …}`.
fn view<T: Serialize>(value: &T) -> Value {
    fn bytes_to_hex(v: Value) -> Value {
        match v {
            Value::Array(items) => {
                let bytes: Option<Vec<u8>> = items
                    .iter()
                    .map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
                    .collect();
                match bytes {
                    Some(b) if b.len() >= 16 => json!({ "hex": hex(&b) }),
                    _ => Value::Array(items.into_iter().map(bytes_to_hex).collect()),
                }
            }
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, bytes_to_hex(v))).collect())
            }
            other => other,
        }
    }
    bytes_to_hex(serde_json::to_value(value).unwrap())
}

fn signed_vector<T: SignedBody>(s: &Signed<T>, seed: u8) -> Value {
    let body = encoding::encode(s.body());
    json!({
        "kind": T::KIND.name(),
        "tag": T::KIND.tag(),
        "domain": T::KIND.domain(),
        "signer_seed": hex(&[seed; 32]),
        "signer": s.signer(),
        "fields": view(s.body()),
        "body": hex(&body),
        "signing_digest": hex(&signing_digest(T::KIND, &body)),
        "signature": s.signature(),
        "encoded": hex(s.encoded()),
        "id": s.id(),
    })
}

fn pair_vector(kind: Kind, first: &Object, second: &Object, encoded: &[u8], id: ObjectId) -> Value {
    json!({
        "kind": kind.name(),
        "tag": kind.tag(),
        "first": first.id(),
        "second": second.id(),
        "encoded": hex(encoded),
        "id": id,
    })
}

fn object_vector(s: &Samples, kind: Kind) -> Value {
    match sample(s, kind) {
        Object::Offer(o) => signed_vector(&o, PROVIDER),
        Object::Demand(o) => signed_vector(&o, CONSUMER),
        Object::SlaProposal(o) => signed_vector(&o, CONSUMER),
        Object::SlaDecision(o) => signed_vector(&o, PROVIDER),
        Object::Agreement(a) => pair_vector(
            kind,
            &a.proposal().clone().into(),
            &a.acceptance().clone().into(),
            a.encoded(),
            a.id(),
        ),
        Object::QosAttestation(o) => signed_vector(&o, CONSUMER),
        Object::Certificate(o) => signed_vector(&o, ISSUER),
        Object::Revocation(o) => signed_vector(&o, ISSUER),
        Object::EquivocationEvidence(e) => {
            let (a, b) = e.offers();
            let mut v = pair_vector(
                kind,
                &a.clone().into(),
                &b.clone().into(),
                e.encoded(),
                e.id(),
            );
            // The second offer is not a sample of its own: give it whole.
            let other = if a.id() == s.offer.id() { b } else { a };
            v["other_offer"] = signed_vector(other, PROVIDER);
            v
        }
        Object::Termination(o) => signed_vector(&o, CONSUMER),
        Object::AccessGrant(o) => signed_vector(&o, PROVIDER),
        Object::Quote(o) => signed_vector(&o, PROVIDER),
        Object::PaymentVoucher(o) => signed_vector(&o, CONSUMER),
        Object::Dispute(o) => signed_vector(&o, PROVIDER),
        Object::Ruling(o) => signed_vector(&o, ISSUER),
    }
}

fn bytes(o: &Object) -> ObjectBytes {
    ObjectBytes::from(o.encoded().to_vec())
}

fn bounded<T, const N: usize>(items: Vec<T>) -> BoundedVec<T, N> {
    BoundedVec::try_from(items).unwrap()
}

fn text<const N: usize>(s: &str) -> BoundedString<N> {
    BoundedString::new(s).unwrap()
}

/// The variant index of each message enum, by an exhaustive `match`: a new variant does not
/// compile until it is numbered here (and the tests below then want its sample).
fn sync_request_index(m: &SyncRequest) -> u8 {
    match m {
        SyncRequest::Summary { .. } => 0,
        SyncRequest::Provider { .. } => 1,
        SyncRequest::Ids { .. } => 2,
        SyncRequest::Fetch { .. } => 3,
    }
}

fn sync_response_index(m: &SyncResponse) -> u8 {
    match m {
        SyncResponse::Summary { .. } => 0,
        SyncResponse::Provider { .. } => 1,
        SyncResponse::Ids { .. } => 2,
        SyncResponse::Objects { .. } => 3,
        SyncResponse::Error(_) => 4,
    }
}

fn query_request_index(m: &QueryRequest) -> u8 {
    match m {
        QueryRequest::Offers(_) => 0,
        QueryRequest::Get { .. } => 1,
        QueryRequest::Agreements { .. } => 2,
        QueryRequest::Provider { .. } => 3,
        QueryRequest::WaitDecision { .. } => 4,
        QueryRequest::Status => 5,
        QueryRequest::Certificates(_) => 6,
        QueryRequest::Register(_) => 7,
        QueryRequest::Trust => 8,
        QueryRequest::Resolve { .. } => 9,
        QueryRequest::Peers => 10,
        QueryRequest::AgreementRecord { .. } => 11,
        QueryRequest::OfferReach { .. } => 12,
        QueryRequest::Payments { .. } => 13,
        QueryRequest::Quotes { .. } => 14,
    }
}

fn query_response_index(m: &QueryResponse) -> u8 {
    match m {
        QueryResponse::Offers { .. } => 0,
        QueryResponse::Objects { .. } => 1,
        QueryResponse::Provider(_) => 2,
        QueryResponse::Decision(_) => 3,
        QueryResponse::Status(_) => 4,
        QueryResponse::Error(_) => 5,
        QueryResponse::Certificates(_) => 6,
        QueryResponse::Register(_) => 7,
        QueryResponse::Trust(_) => 8,
        QueryResponse::Resolved { .. } => 9,
        QueryResponse::Peers(_) => 10,
        QueryResponse::OfferReach(_) => 11,
        QueryResponse::Payments(_) => 12,
    }
}

fn submit_response_index(m: &SubmitResponse) -> u8 {
    match m {
        SubmitResponse::Accepted { .. } => 0,
        SubmitResponse::Refused { .. } => 1,
        SubmitResponse::Error(_) => 2,
    }
}

fn offer_query(s: &Samples) -> OfferQuery {
    OfferQuery {
        kind: Some(ResourceKind::Storage),
        regions: bounded(vec![text("eu-west")]),
        protocol: Some(DataProtocol::S3),
        max_price: Some(samples::usd(150, PriceUnit::GibMonth)),
        min_capacity: Some(GIB),
        min_availability_bp: Some(9900),
        max_p95_latency_ms: None,
        certified_by: None,
        certified: bounded(vec![ClaimFilter {
            name: text("tier"),
            value: Some(text("2")),
        }]),
        jurisdictions: bounded(vec![text("eu")]),
        min_reputation_bp: None,
        provider: None,
        include_withdrawn: false,
        sort: SortKey::Price,
        limit: 0,
        cursor: Some(Cursor {
            after_value: 100,
            after_id: s.offer.id(),
            after_group: price_group(PriceUnit::GibMonth, "USD"),
        }),
        asset: Some(text("USD")),
        offer_key: None,
        include_unrated: false,
    }
}

fn error_reply() -> ErrorReply {
    ErrorReply::with_code(ErrorCode::InvalidInput, "limit 500 is above 200")
}

fn sync_requests(s: &Samples) -> Vec<SyncRequest> {
    vec![
        SyncRequest::Summary { after: None },
        SyncRequest::Provider {
            provider: key(PROVIDER).public(),
        },
        SyncRequest::Ids {
            kind: Kind::QosAttestation,
            after: Some(s.demand.id()),
        },
        SyncRequest::Fetch {
            ids: bounded(vec![s.attestation.id(), s.revocation.id()]),
        },
    ]
}

fn sync_responses(s: &Samples) -> Vec<SyncResponse> {
    let ids: Vec<ObjectId> = vec![s.attestation.id()];
    vec![
        SyncResponse::Summary {
            listing: listing_items(s).1,
            kinds: bounded(vec![
                (SummaryKind::from(Kind::QosAttestation), kind_digest(&ids)),
                (SummaryKind::from(Kind::Termination), kind_digest(&NO_IDS)),
            ]),
            providers: bounded(vec![(key(PROVIDER).public(), provider_summary(s).1)]),
            more: false,
        },
        SyncResponse::Provider {
            offers: bounded(provider_summary(s).0),
        },
        SyncResponse::Ids {
            ids: bounded(ids),
            more: false,
        },
        SyncResponse::Objects {
            objects: bounded(vec![bytes(&s.revocation.clone().into())]),
        },
        SyncResponse::Error(ErrorReply::new("cannot serve sync request: store closed")),
    ]
}

fn query_requests(s: &Samples) -> Vec<QueryRequest> {
    vec![
        QueryRequest::Offers(offer_query(s)),
        QueryRequest::Get {
            ids: bounded(vec![s.offer.id()]),
        },
        QueryRequest::Agreements {
            party: Some(key(CONSUMER).public()),
        },
        QueryRequest::Provider {
            provider: key(PROVIDER).public(),
        },
        QueryRequest::WaitDecision {
            proposal_id: s.proposal.id(),
            timeout_secs: 20,
        },
        QueryRequest::Status,
        QueryRequest::Certificates(CertQuery {
            subjects: bounded(vec![key(PROVIDER).public()]),
            trusted_only: true,
            ..CertQuery::default()
        }),
        QueryRequest::Register(RegisterQuery {
            role: RegisterRole::Providers,
            claim: Some(ClaimFilter {
                name: text("tier"),
                value: None,
            }),
            limit: 10,
            ..RegisterQuery::default()
        }),
        QueryRequest::Trust,
        QueryRequest::Resolve {
            space: IdSpace::Offers,
            prefix: text(&s.offer.id().to_string()[..8]),
        },
        QueryRequest::Peers,
        QueryRequest::AgreementRecord {
            proposal_id: s.proposal.id(),
            wait_grant_secs: 0,
        },
        QueryRequest::OfferReach {
            provider: key(PROVIDER).public(),
            offer_key: text("eu-hot"),
            sample: 8,
        },
        QueryRequest::Payments {
            party: key(CONSUMER).public(),
            agreement: Some(s.proposal.id()),
        },
        QueryRequest::Quotes {
            demand_id: s.demand.id(),
        },
    ]
}

fn trust_store() -> TrustStore {
    let mut trust = TrustStore::default();
    let issuer = Issuer::new(
        "acme-audit",
        key(ISSUER).public(),
        &[Role::Certifier],
        &["tier"],
    )
    .unwrap();
    trust.add(issuer, false).unwrap();
    trust.require("tier", Requirement::AtLeast(1)).unwrap();
    trust
}

fn certificate_page(s: &Samples) -> CertificatePage {
    CertificatePage {
        trust: trust_store(),
        now: NOW,
        certificates: bounded(vec![bytes(&s.certificate.clone().into())]),
        statuses: bounded(vec![CertStatus::Revoked {
            reason: text("key compromised"),
        }]),
        revocations: bounded(vec![bytes(&s.revocation.clone().into())]),
        next: None,
    }
}

fn query_responses(s: &Samples) -> Vec<QueryResponse> {
    let (p, c) = (key(PROVIDER).public(), key(CONSUMER).public());
    vec![
        QueryResponse::Offers {
            offers: bounded(vec![bytes(&s.offer.clone().into())]),
            next_cursor: None,
        },
        QueryResponse::Objects {
            objects: bounded(vec![bytes(&s.revocation.clone().into())]),
        },
        QueryResponse::Provider(ProviderReport {
            provider: p,
            offers: bounded(vec![]),
            agreements: bounded(vec![]),
            flagged: false,
            score: Some(0.875),
            beta_mean: 0.9,
            compliance: 0.75,
            evidence: ScoreEvidence {
                total: 1.0,
                anchored: 1.0,
                rated_at: 1.0,
                anchored_node: true,
                no_standing: 0.0,
                low_stake: 0.5,
                capped: 0.0,
            },
            counted: bounded(vec![CountedAttestation {
                id: s.attestation.id(),
                attester: c,
                window_end: NOW,
                probes: 10,
                successes: 9,
                weight: 1.0,
                standing: 1.0,
                stake: 1.0,
                standing_code: text("own"),
                why: text("one of this node's own keys"),
            }]),
            excluded: bounded(vec![ExcludedAttestation {
                id: Hash32::of(b"another attestation"),
                attester: key(ISSUER).public(),
                reason: text("no agreement"),
            }]),
            ruling_factor: 0.75,
            rulings: bounded(vec![ProviderRuling {
                id: s.ruling.id(),
                arbiter: s.ruling.body().arbiter,
                agreement: s.ruling.body().agreement,
                in_favour_of: s.ruling.body().in_favour_of,
                created_at: s.ruling.body().created_at,
                effect: text("against"),
                factor: 0.75,
                why: text("a trusted arbiter ruled for the consumer"),
            }]),
        }),
        QueryResponse::Decision(Some(bytes(&s.decision.clone().into()))),
        QueryResponse::Status(NodeStatus {
            node_key: p,
            listing_digest: listing_items(s).1,
            offers: 1,
            peers: 3,
            now: NOW,
            version: text("0.1.0"),
            listen_addrs: bounded(vec![text(&format!(
                "/ip4/127.0.0.1/tcp/4077/p2p/{}",
                p.to_peer_id()
            ))]),
            counts: bounded(
                Kind::ALL
                    .iter()
                    .map(|k| (SummaryKind::from(*k), u64::from(*k == Kind::Offer)))
                    .collect(),
            ),
            withdrawn_offers: 0,
            flagged_providers: 0,
            sync: SyncStatus {
                rounds: 12,
                failed_rounds: 1,
                last_round_at: Some(NOW - 5),
                last_fetched: 0,
                last_in_sync_at: Some(NOW - 5),
            },
            blob_endpoint: None,
        }),
        QueryResponse::Error(error_reply()),
        QueryResponse::Certificates(certificate_page(s)),
        QueryResponse::Register(RegisterPage {
            page: certificate_page(s),
            subjects: bounded(vec![p]),
            next: None,
        }),
        QueryResponse::Trust(trust_store()),
        QueryResponse::Resolved {
            matches: bounded(vec![s.offer.id()]),
            more: false,
        },
        QueryResponse::Peers(bounded(vec![PeerInfo {
            peer_id: text(&c.to_peer_id().to_string()),
            addrs: bounded(vec![text("/ip4/127.0.0.1/tcp/4078")]),
            in_mesh: true,
            score: Some(10.5),
        }])),
        QueryResponse::OfferReach(OfferReach {
            id: s.offer.id(),
            seq: 1,
            created_at: NOW,
            answered_at_ms: NOW * 1000 + 250,
            direct: 1,
            sampled: 0,
            peers: bounded(vec![PeerReach {
                peer_id: text(&c.to_peer_id().to_string()),
                direct: true,
                held: Held::Older(0),
                first_seen_ms: None,
                pushed: true,
            }]),
        }),
        QueryResponse::Payments(PaymentsReport {
            party: key(CONSUMER).public(),
            now: NOW,
            standing: payments::ConsumerStanding {
                agreements: 1,
                current: 1,
                worst_paid_bp: 10_000,
                score_bp: 10_000,
                ..Default::default()
            },
            accounts: bounded(vec![]),
            more: false,
        }),
    ]
}

fn submit_responses(s: &Samples) -> Vec<SubmitResponse> {
    vec![
        SubmitResponse::Accepted {
            id: s.offer.id(),
            duplicate: false,
        },
        SubmitResponse::Refused {
            rule: Rule::BadSignature,
            detail: text("signature by 8a88e3dd does not verify"),
        },
        SubmitResponse::Error(ErrorReply::new("the listing store failed")),
    ]
}

/// The LEB128 length prefix of a request-response frame.
fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn message_vector<T: Serialize>(
    protocol: Protocol,
    direction: &str,
    name: &str,
    index: Option<u8>,
    message: &T,
) -> Value {
    let body = encode_message(message);
    if let Some(index) = index {
        assert_eq!(body[0], index, "{name}: variant index");
    }
    let mut frame = leb128(body.len());
    frame.extend_from_slice(&body);
    json!({
        "protocol": protocol.id(),
        "direction": direction,
        "message": name,
        "variant_index": index,
        "value": view(message),
        "bytes": hex(&body),
        "frame": hex(&frame),
    })
}

/// Every message sample, after checking that each decodes back to itself, that the samples of
/// an enum are its variants 0, 1, 2… in order, and that the next index is not a variant.
fn messages(s: &Samples) -> Vec<Value> {
    fn enum_vectors<T>(
        protocol: Protocol,
        direction: &str,
        enum_name: &str,
        samples: Vec<T>,
        index: fn(&T) -> u8,
        decode: fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Vec<Value>
    where
        T: Serialize + PartialEq + std::fmt::Debug,
    {
        let mut out = Vec::new();
        for (i, m) in samples.iter().enumerate() {
            assert_eq!(
                usize::from(index(m)),
                i,
                "{enum_name}: samples in variant order"
            );
            let body = encode_message(m);
            assert_eq!(&decode(&body).unwrap(), m, "{enum_name} {i} round trip");
            let name = format!("{enum_name}::{}", variant_name(m));
            out.push(message_vector(
                protocol,
                direction,
                &name,
                Some(index(m)),
                m,
            ));
        }
        // A variant appended to the enum without a sample here would decode at this index.
        let next = u8::try_from(samples.len()).unwrap();
        assert!(
            decode(&[next]).is_err() && decode(&[next, 0, 0, 0, 0, 0, 0, 0]).is_err(),
            "{enum_name} has a variant {next} without a vector"
        );
        out
    }
    fn variant_name<T: std::fmt::Debug>(m: &T) -> String {
        let debug = format!("{m:?}");
        debug
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
    let mut out = Vec::new();
    out.extend(enum_vectors(
        Protocol::Sync,
        "request",
        "SyncRequest",
        sync_requests(s),
        sync_request_index,
        decode_request,
    ));
    out.extend(enum_vectors(
        Protocol::Sync,
        "response",
        "SyncResponse",
        sync_responses(s),
        sync_response_index,
        decode_response,
    ));
    out.extend(enum_vectors(
        Protocol::Query,
        "request",
        "QueryRequest",
        query_requests(s),
        query_request_index,
        decode_request,
    ));
    out.extend(enum_vectors(
        Protocol::Query,
        "response",
        "QueryResponse",
        query_responses(s),
        query_response_index,
        decode_response,
    ));
    let submit = SubmitRequest {
        object: bytes(&s.revocation.clone().into()),
    };
    assert_eq!(
        decode_request::<SubmitRequest>(&encode_message(&submit)).unwrap(),
        submit
    );
    out.push(message_vector(
        Protocol::Submit,
        "request",
        "SubmitRequest",
        None,
        &submit,
    ));
    out.extend(enum_vectors(
        Protocol::Submit,
        "response",
        "SubmitResponse",
        submit_responses(s),
        submit_response_index,
        decode_response,
    ));
    // Every protocol has its vectors.
    for protocol in Protocol::ALL {
        assert!(
            out.iter().any(|v| v["protocol"] == protocol.id()),
            "{protocol}"
        );
    }
    out
}

fn provider_summary(s: &Samples) -> (Vec<(ShortText, u64, ObjectId)>, Hash32) {
    let summary = vec![(s.offer.body().offer_key.clone(), 1, s.offer.id())];
    let digest = provider_digest(&summary);
    (summary, digest)
}

fn listing_items(s: &Samples) -> (Vec<(Kind, ObjectId)>, Hash32) {
    let items: Vec<(Kind, ObjectId)> = Kind::ALL
        .iter()
        .map(|k| {
            let o = sample(s, *k);
            (o.kind(), o.id())
        })
        .collect();
    let digest = ListingDigest::of(&items);
    (items, digest)
}

fn digests(s: &Samples) -> Value {
    let (summary, provider) = provider_summary(s);
    // Two offers of another provider, to show the order and the seq bytes.
    let mut two = vec![
        (text("b"), 1u64 << 40, Hash32::of(b"b")),
        (text("a"), 7, Hash32::of(b"a")),
    ];
    let two_digest = provider_digest(&two);
    two.sort();
    let mut ids = vec![s.attestation.id(), Hash32::of(b"a second attestation id")];
    ids.sort();
    let (items, listing) = listing_items(s);
    let listed: Vec<Value> = {
        let mut l: Vec<&(Kind, ObjectId)> = items
            .iter()
            .filter(|(k, _)| k.in_listing_digest())
            .collect();
        l.sort();
        l.iter()
            .map(|(k, id)| json!({"kind": k.name(), "tag": k.tag(), "id": id}))
            .collect()
    };
    let summary_view = |s: &[(ShortText, u64, ObjectId)]| -> Vec<Value> {
        s.iter()
            .map(|(k, seq, id)| json!({"offer_key": k.as_str(), "seq": seq, "id": id}))
            .collect()
    };
    let kinds_covered: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| k.in_listing_digest())
        .map(|k| k.name())
        .collect();
    json!({
        "provider_digests": [
            {
                "provider": key(PROVIDER).public(),
                "offers": summary_view(&summary),
                "digest": provider,
            },
            {
                "offers": summary_view(&two),
                "digest": two_digest,
            },
        ],
        "kind_digests": [
            { "kind": "qos_attestation", "ids": ids, "digest": kind_digest(&ids) },
            { "kind": "termination", "ids": [], "digest": kind_digest(&NO_IDS) },
        ],
        "listing_digest": {
            "kinds_covered": kinds_covered,
            "items": listed,
            "digest": listing,
        },
    })
}

/// An agreement-shaped pair of arbitrary parts (for invalid vectors).
fn pair(kind: Kind, first: &[u8], second: &[u8]) -> Vec<u8> {
    encoding::encode(&(
        kind.tag(),
        serde_bytes::Bytes::new(first),
        serde_bytes::Bytes::new(second),
    ))
}

/// Re-signs an offer body changed by `f`, without its field checks.
fn offer_with(f: impl FnOnce(&mut Offer)) -> Vec<u8> {
    let p = key(PROVIDER);
    let mut o = samples::offer(p.public(), "eu-hot", 1, NOW);
    f(&mut o);
    Signed::sign_unchecked(o, &p).encoded().to_vec()
}

struct Invalid {
    rule: Rule,
    what: &'static str,
    /// Checked where: `decode` (Object::decode_at at NOW), `topic` (check_topic on `topic`),
    /// `store` (after the store holds `held`).
    check: &'static str,
    topic: Option<&'static str>,
    held: Vec<Vec<u8>>,
    bytes: Vec<u8>,
}

fn invalid(rule: Rule, what: &'static str, bytes: Vec<u8>) -> Invalid {
    Invalid {
        rule,
        what,
        check: "decode",
        topic: None,
        held: Vec::new(),
        bytes,
    }
}

fn invalid_cases(s: &Samples) -> Vec<Invalid> {
    let (p, c) = (key(PROVIDER), key(CONSUMER));
    let good = s.revocation.encoded().to_vec();
    let signed_part = |bytes: &[u8]| -> (usize, usize) {
        // (start of the signer, length of everything)
        (bytes.len() - 96, bytes.len())
    };
    let mut cases = Vec::new();

    let mut big = vec![0u8; Kind::Revocation.max_bytes() + 1];
    big[0] = Kind::Revocation.tag();
    cases.push(invalid(
        Rule::TooLarge,
        "a revocation one byte over its kind's 1024-byte limit (checked before decoding)",
        big,
    ));

    let mut trailing = good.clone();
    trailing.push(0);
    cases.push(invalid(
        Rule::TrailingBytes,
        "the sample revocation followed by one zero byte",
        trailing,
    ));

    cases.push(invalid(
        Rule::Malformed,
        "tag 255: no kind has it",
        vec![255, 0],
    ));

    // The body length written as 251 + u16 although it is below 251.
    let mut long_prefix = vec![good[0], 251];
    let body_len = usize::from(good[1]);
    assert!(body_len < 251);
    long_prefix.extend_from_slice(&u16::try_from(body_len).unwrap().to_le_bytes());
    long_prefix.extend_from_slice(&good[2..]);
    cases.push(invalid(
        Rule::NonCanonical,
        "the sample revocation with its body length written in the 3-byte form (251, u16) instead of one byte: same body and signature, another id",
        long_prefix,
    ));

    // An agreement whose first part is an offer: the proposal decoder sees tag 1.
    cases.push(invalid(
        Rule::WrongKind,
        "an agreement (tag 5) whose first part is an offer (tag 1) where a proposal (tag 3) must be",
        pair(Kind::Agreement, s.offer.encoded(), s.decision.encoded()),
    ));

    let (at, _) = signed_part(&good);
    let y = (2u8..=255)
        .map(|b| {
            let mut y = [0u8; 32];
            y[0] = b;
            y
        })
        .find(|y| PublicKey::from_bytes(y) == Err(KeyError::InvalidPoint))
        .unwrap();
    let mut not_point = good.clone();
    not_point[at..at + 32].copy_from_slice(&y);
    cases.push(invalid(
        Rule::InvalidKey,
        "the sample revocation with a signer field that is not a curve point",
        not_point,
    ));

    let mut weak = good.clone();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    weak[at..at + 32].copy_from_slice(&identity);
    cases.push(invalid(
        Rule::WeakKey,
        "the sample revocation with the identity point (small order) as signer",
        weak,
    ));

    // A body that does not decode, under a valid signature: the signature is checked first.
    let junk_body = vec![0xffu8; 8];
    let sig = p.sign(&signing_digest(Kind::Revocation, &junk_body));
    let mut signed_junk = vec![Kind::Revocation.tag()];
    signed_junk.extend(encoding::encode(&serde_bytes::Bytes::new(&junk_body)));
    signed_junk.extend_from_slice(p.public().as_bytes());
    signed_junk.extend_from_slice(&sig.to_bytes());
    let mut bad_sig = signed_junk.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last - 40] ^= 0x10;
    cases.push(invalid(
        Rule::BadSignature,
        "a revocation whose body does not decode either, under a signature with one bit flipped: the signature is checked before the body is decoded, so the rule is bad_signature, not malformed",
        bad_sig,
    ));

    // Non-canonical body: seq = 1 written as 251, 1, 0, correctly signed.
    let body = encoding::encode(&samples::offer(p.public(), "eu-hot", 1, NOW));
    // provider (32) | offer_key (1 + 6) | seq
    let seq_at = 32 + 1 + 6;
    assert_eq!(body[seq_at], 1);
    let mut long = body[..seq_at].to_vec();
    long.extend_from_slice(&[251, 1, 0]);
    long.extend_from_slice(&body[seq_at + 1..]);
    let sig = p.sign(&signing_digest(Kind::Offer, &long));
    let mut noncanonical_body = vec![Kind::Offer.tag()];
    noncanonical_body.extend(encoding::encode(&serde_bytes::Bytes::new(&long)));
    noncanonical_body.extend_from_slice(p.public().as_bytes());
    noncanonical_body.extend_from_slice(&sig.to_bytes());
    cases.push(invalid(
        Rule::NonCanonical,
        "an offer body with seq 1 written as 251, 1, 0 (a u16 varint), signed over those bytes",
        noncanonical_body,
    ));

    // Signed with a correct signature, over a body that does not decode.
    cases.push(invalid(
        Rule::Malformed,
        "a revocation with a valid signature over 8 bytes 0xff that do not decode as a revocation body",
        signed_junk,
    ));

    cases.push(invalid(
        Rule::SignerMismatch,
        "the sample offer body (provider = key 1) signed by key 2",
        Signed::sign_unchecked(samples::offer(p.public(), "eu-hot", 1, NOW), &c)
            .encoded()
            .to_vec(),
    ));
    cases.push(invalid(
        Rule::InvalidField,
        "the sample offer with availability_bp 10001",
        offer_with(|o| o.qos.availability_bp = 10_001),
    ));
    cases.push(invalid(
        Rule::ExpiredAtCreation,
        "the sample offer with expires_at = created_at",
        offer_with(|o| o.expires_at = o.created_at),
    ));
    cases.push(invalid(
        Rule::LifetimeTooLong,
        "the sample offer living 401 days",
        offer_with(|o| o.expires_at = o.created_at + 401 * 86_400),
    ));

    let other = samples::decision(
        s.proposal.body(),
        Hash32::of(b"another proposal"),
        Decision::Accept,
        NOW,
    );
    let other = Signed::sign(other, &p).unwrap();
    cases.push(invalid(
        Rule::PartsMismatch,
        "an agreement of the sample proposal with an acceptance of another proposal id",
        pair(Kind::Agreement, s.proposal.encoded(), other.encoded()),
    ));
    let rejection = Signed::sign(
        samples::decision(
            s.proposal.body(),
            s.proposal.id(),
            Decision::Reject(RejectReason::Capacity),
            NOW,
        ),
        &p,
    )
    .unwrap();
    cases.push(invalid(
        Rule::NotAccepted,
        "an agreement of the sample proposal with a rejection (capacity)",
        pair(Kind::Agreement, s.proposal.encoded(), rejection.encoded()),
    ));
    cases.push(invalid(
        Rule::Expired,
        "the sample offer with expires_at = now",
        offer_with(|o| {
            o.created_at = NOW - 100;
            o.expires_at = NOW;
        }),
    ));
    cases.push(invalid(
        Rule::FromFuture,
        "the sample offer created 301 s after now (the default skew is 300 s)",
        offer_with(|o| {
            o.created_at = NOW + 301;
            o.expires_at = NOW + 1000;
        }),
    ));

    let stateful = |rule, what, held: Vec<Vec<u8>>, bytes: Vec<u8>| Invalid {
        rule,
        what,
        check: "store",
        topic: None,
        held,
        bytes,
    };
    cases.push(stateful(
        Rule::Duplicate,
        "the sample offer, already held",
        vec![s.offer.encoded().to_vec()],
        s.offer.encoded().to_vec(),
    ));
    let newer = offer_with(|o| o.seq = 2);
    cases.push(stateful(
        Rule::Superseded,
        "the sample offer (seq 1) when seq 2 of (provider, eu-hot) is held",
        vec![newer],
        s.offer.encoded().to_vec(),
    ));
    cases.push(stateful(
        Rule::Equivocation,
        "a second body for (provider, eu-hot, seq 1) (half the capacity) when the sample offer is held",
        vec![s.offer.encoded().to_vec()],
        s.offer_b.encoded().to_vec(),
    ));
    // The payment rules, against the sample agreement (decision 0090).
    let voucher_with = |signer: u8, f: &dyn Fn(&mut PaymentVoucher)| {
        let mut body = s.voucher.body().clone();
        f(&mut body);
        Signed::sign(body, &key(signer)).unwrap().encoded().to_vec()
    };
    let agreement = s.agreement.encoded().to_vec();
    cases.push(stateful(
        Rule::UnknownAgreement,
        "the sample voucher when its agreement is not held",
        Vec::new(),
        s.voucher.encoded().to_vec(),
    ));
    cases.push(stateful(
        Rule::NotAParty,
        "a voucher for the sample agreement signed by the issuer key, not its consumer",
        vec![agreement.clone()],
        voucher_with(ISSUER, &|v| v.consumer = key(ISSUER).public()),
    ));
    cases.push(stateful(
        Rule::AssetMismatch,
        "the sample voucher in EUR for an agreement priced in USD",
        vec![agreement.clone()],
        voucher_with(CONSUMER, &|v| v.asset = text("EUR")),
    ));
    cases.push(stateful(
        Rule::AboveTotal,
        "a voucher promising more than the sample agreement's total",
        vec![agreement.clone()],
        voucher_with(CONSUMER, &|v| v.cumulative = u64::MAX / 2),
    ));
    cases.push(stateful(
        Rule::NotNewer,
        "a voucher for 50 (sequence 2) when the sample voucher for 100 is held",
        vec![agreement, s.voucher.encoded().to_vec()],
        voucher_with(CONSUMER, &|v| {
            v.cumulative = 50;
            v.sequence = 2;
        }),
    ));
    cases.push(Invalid {
        rule: Rule::WrongTopic,
        what: "the sample offer published on the demands topic",
        check: "topic",
        topic: Some(Topic::Demands.name()),
        held: Vec::new(),
        bytes: s.offer.encoded().to_vec(),
    });
    cases
}

/// Checks every stateless invalid vector against the code and returns the JSON of all.
fn invalid_vectors(s: &Samples) -> Vec<Value> {
    let cases = invalid_cases(s);
    for rule in Rule::ALL {
        assert!(
            cases.iter().any(|c| c.rule == rule),
            "no invalid vector for {}",
            rule.name()
        );
    }
    cases
        .iter()
        .map(|case| {
            let detail = match case.check {
                "decode" => {
                    let err = Object::decode_at(&case.bytes, NOW, &TimeRules::default())
                        .expect_err(case.what);
                    assert_eq!(err.rule, case.rule, "{}: {err}", case.what);
                    Some(err.detail)
                }
                "topic" => {
                    let err = check_topic(case.topic.unwrap(), &case.bytes).expect_err(case.what);
                    assert_eq!(err.rule, case.rule, "{}: {err}", case.what);
                    // Valid in itself: only the topic is wrong.
                    assert!(Object::decode_at(&case.bytes, NOW, &TimeRules::default()).is_ok());
                    Some(err.detail)
                }
                _ => {
                    // Valid in itself: only what the store holds makes it so.
                    assert!(Object::decode_at(&case.bytes, NOW, &TimeRules::default()).is_ok());
                    None
                }
            };
            let index = encode_message(&case.rule);
            json!({
                "rule": case.rule.name(),
                "rule_index": index[0],
                "label": case.rule.label(),
                "check": case.check,
                "now": NOW,
                "topic": case.topic,
                "held": case.held.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                "what": case.what,
                "bytes": hex(&case.bytes),
                "detail": detail,
            })
        })
        .collect()
}

/// Field-by-field hex of an encoded struct: each field encoded alone, in order. Checks that
/// the pieces make up the whole.
macro_rules! fields {
    ($whole:expr, $value:expr; $($field:ident),+ $(,)?) => {{
        let v = &$value;
        let rows: Vec<(&str, Vec<u8>)> = vec![$((stringify!($field), encoding::encode(&v.$field))),+];
        let joined: Vec<u8> = rows.iter().flat_map(|(_, b)| b.clone()).collect();
        assert_eq!(joined, $whole, "fields in encoding order");
        rows
    }};
}

fn table(out: &mut String, rows: &[(&str, Vec<u8>)]) {
    out.push_str("| field | bytes (hex) |\n|---|---|\n");
    for (name, bytes) in rows {
        let shown = if bytes.is_empty() {
            "(the body above)".to_owned()
        } else {
            format!("`{}`", hex(bytes))
        };
        let _ = writeln!(out, "| `{name}` | {shown} |");
    }
    out.push('\n');
}

fn examples(s: &Samples) -> String {
    let mut out = String::new();
    out.push_str(
        "# Worked examples (generated)\n\n\
         Generated by `cargo test -p flashback-types --test vectors` from the code; do not edit \
         (`FLASHBACK_REGEN_VECTORS=1` rewrites it). Keys are the **test-only** keys of \
         [README.md](README.md). `docs/PROTOCOL.md` §8 explains how to read these.\n\n",
    );
    // The offer, field by field.
    let offer = s.offer.body();
    let body = encoding::encode(offer);
    out.push_str("## An offer (tag 1), field by field\n\n");
    let _ = writeln!(
        out,
        "Signed by the key of seed `01…01` (public key `{}`).\n",
        offer.provider
    );
    table(
        &mut out,
        &fields!(body.clone(), offer;
            provider, offer_key, seq, withdrawn, kind, capacity, price, min_duration_secs,
            max_duration_secs, regions, protocols, endpoint, qos, redundancy, certificates,
            jurisdictions, compliance_docs, compute, created_at, expires_at),
    );
    let enc = s.offer.encoded();
    let prefix_len = enc.len() - body.len() - 96;
    out.push_str("The signed object around that body:\n\n");
    table(
        &mut out,
        &[
            ("kind (tag)", enc[..1].to_vec()),
            ("body length (varint)", enc[1..prefix_len].to_vec()),
            ("body", Vec::new()),
            ("signer", enc[enc.len() - 96..enc.len() - 64].to_vec()),
            ("signature", enc[enc.len() - 64..].to_vec()),
        ],
    );
    let _ = writeln!(
        out,
        "- signing digest = blake3 derive_key(\"flashback/v1/offer\", body) = `{}`\n- id = blake3(whole encoding) = `{}`\n",
        hex(&signing_digest(Kind::Offer, &body)),
        s.offer.id()
    );
    out.push_str("## One object of each kind\n\n");
    for kind in Kind::ALL {
        let o = sample(s, kind);
        let _ = writeln!(
            out,
            "### {} (tag {}), {} bytes\n\nid `{}`\n\n```\n{}\n```\n",
            kind.name(),
            kind.tag(),
            o.encoded().len(),
            o.id(),
            wrap(&hex(o.encoded()))
        );
    }
    // An OfferQuery request, field by field.
    out.push_str("## `/flashback/query/1`: `Offers(OfferQuery)`, field by field\n\n");
    let q = offer_query(s);
    let req = encode_message(&QueryRequest::Offers(q.clone()));
    let mut rows = vec![("variant index (Offers)", req[..1].to_vec())];
    rows.extend(fields!(req[1..].to_vec(), q;
        kind, regions, protocol, max_price, min_capacity, min_availability_bp, max_p95_latency_ms,
        certified_by, certified, jurisdictions, min_reputation_bp, provider, include_withdrawn,
        sort, limit, cursor, asset, offer_key, include_unrated));
    table(&mut out, &rows);
    let mut frame = leb128(req.len());
    frame.extend_from_slice(&req);
    let _ = writeln!(
        out,
        "On the stream (LEB128 length, then the bytes; the client then half-closes):\n\n```\n{}\n```\n",
        wrap(&hex(&frame))
    );
    out.push_str("## One request and one response of each protocol\n\n");
    let pairs: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "/flashback/sync/1 `Summary { after: None }` → `Summary`",
            encode_message(&sync_requests(s)[0]),
            encode_message(&sync_responses(s)[0]),
        ),
        (
            "/flashback/query/1 `Status` → `Status(NodeStatus)`",
            encode_message(&QueryRequest::Status),
            encode_message(&query_responses(s)[4]),
        ),
        (
            "/flashback/submit/1 `SubmitRequest` (the sample revocation) → `Accepted`",
            encode_message(&SubmitRequest {
                object: bytes(&s.revocation.clone().into()),
            }),
            encode_message(&SubmitResponse::Accepted {
                id: s.revocation.id(),
                duplicate: false,
            }),
        ),
    ];
    for (title, req, resp) in pairs {
        let _ = writeln!(
            out,
            "### {title}\n\nrequest ({} bytes):\n\n```\n{}\n```\n\nresponse ({} bytes):\n\n```\n{}\n```\n",
            req.len(),
            wrap(&hex(&req)),
            resp.len(),
            wrap(&hex(&resp))
        );
    }
    out
}

fn wrap(hex: &str) -> String {
    hex.as_bytes()
        .chunks(96)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

/// Compares `content` with the file, or rewrites it under `FLASHBACK_REGEN_VECTORS=1`.
fn check_file(name: &str, content: &str) -> Option<String> {
    let path = vectors_dir().join(name);
    if std::env::var_os("FLASHBACK_REGEN_VECTORS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(vectors_dir()).unwrap();
        std::fs::write(&path, content).unwrap();
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(on_disk) if on_disk == content => None,
        Ok(_) => Some(format!("{name} differs from what the code produces")),
        Err(e) => Some(format!("{name}: {e}")),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

#[test]
fn vectors_match_the_code() {
    let s = samples();
    let objects: Vec<Value> = Kind::ALL.iter().map(|k| object_vector(&s, *k)).collect();
    // Every object vector decodes, verifies and keeps its id.
    for (kind, v) in Kind::ALL.iter().zip(&objects) {
        let o = sample(&s, *kind);
        let back = Object::decode_at(o.encoded(), NOW, &TimeRules::default()).unwrap();
        assert_eq!(back.kind(), *kind);
        assert_eq!(back.id(), o.id());
        assert_eq!(v["id"], json!(o.id()));
    }
    let files = [
        (
            "objects.json",
            pretty(&json!({
                "now": NOW,
                "keys": {
                    "note": "TEST ONLY: SecretKey::from_seed(&[seed; 32]); never use these keys for anything else",
                    "provider_seed": hex(&[PROVIDER; 32]), "provider": key(PROVIDER).public(),
                    "consumer_seed": hex(&[CONSUMER; 32]), "consumer": key(CONSUMER).public(),
                    "issuer_seed": hex(&[ISSUER; 32]), "issuer": key(ISSUER).public(),
                },
                "objects": objects,
            })),
        ),
        (
            "messages.json",
            pretty(&json!({ "now": NOW, "messages": messages(&s) })),
        ),
        (
            "invalid.json",
            pretty(&json!({ "now": NOW, "invalid": invalid_vectors(&s) })),
        ),
        ("digests.json", pretty(&digests(&s))),
        ("EXAMPLES.md", examples(&s)),
    ];
    let stale: Vec<String> = files
        .iter()
        .filter_map(|(name, content)| check_file(name, content))
        .collect();
    assert!(
        stale.is_empty(),
        "{}; run FLASHBACK_REGEN_VECTORS=1 cargo test -p flashback-types --test vectors and review the diff",
        stale.join("; ")
    );
}

#[test]
fn refused_rules_travel_as_their_stable_index() {
    // `SubmitResponse::Refused.rule` is the rule's variant index (docs/PROTOCOL.md §4): these
    // numbers never change; new rules are appended.
    let expected = [
        "too_large",
        "trailing_bytes",
        "malformed",
        "non_canonical",
        "wrong_kind",
        "invalid_key",
        "weak_key",
        "bad_signature",
        "signer_mismatch",
        "invalid_field",
        "expired_at_creation",
        "lifetime_too_long",
        "parts_mismatch",
        "not_accepted",
        "expired",
        "from_future",
        "duplicate",
        "superseded",
        "equivocation",
        "wrong_topic",
        "unknown_agreement",
        "not_a_party",
        "asset_mismatch",
        "above_total",
        "not_newer",
    ];
    assert_eq!(Rule::ALL.len(), expected.len());
    for (i, (rule, name)) in Rule::ALL.iter().zip(expected).enumerate() {
        assert_eq!(rule.name(), name);
        assert_eq!(
            encode_message(rule),
            vec![u8::try_from(i).unwrap()],
            "{name}"
        );
    }
}

#[test]
fn the_small_examples_of_the_protocol_document_hold() {
    // docs/PROTOCOL.md §8, "Small messages, by hand".
    let frame = |body: &[u8]| {
        let mut f = leb128(body.len());
        f.extend_from_slice(body);
        f
    };
    let cases: Vec<(Vec<u8>, &[u8], &[u8])> = vec![
        (
            encode_message(&SyncRequest::Summary { after: None }),
            &[0x00, 0x00],
            &[0x02, 0x00, 0x00],
        ),
        (
            encode_message(&SyncRequest::Ids {
                kind: Kind::QosAttestation,
                after: None,
            }),
            &[0x02, 0x05, 0x00],
            &[0x03, 0x02, 0x05, 0x00],
        ),
        (
            encode_message(&QueryRequest::Status),
            &[0x05],
            &[0x01, 0x05],
        ),
        (encode_message(&QueryRequest::Trust), &[0x08], &[0x01, 0x08]),
        (
            encode_message(&SubmitResponse::Refused {
                rule: Rule::BadSignature,
                detail: text("x"),
            }),
            &[0x01, 0x07, 0x01, 0x78],
            &[0x04, 0x01, 0x07, 0x01, 0x78],
        ),
        (
            encode_message(&QueryResponse::Error(ErrorReply::with_code(
                ErrorCode::InvalidInput,
                "",
            ))),
            &[0x05, 0x00, 0x00],
            &[0x03, 0x05, 0x00, 0x00],
        ),
    ];
    for (bytes, expected, framed) in cases {
        assert_eq!(bytes, expected);
        assert_eq!(frame(&bytes), framed);
    }
    // §2's varint examples.
    for (n, hex_form) in [
        (250u64, "fa"),
        (251, "fbfb00"),
        (300, "fb2c01"),
        (70_000, "fc70110100"),
        (1 << 32, "fd0000000001000000"),
    ] {
        assert_eq!(hex(&encoding::encode(&n)), hex_form, "{n}");
    }
    assert_eq!(encoding::encode(&0xffu8), [0xff], "a u8 is a raw byte");
    // The kind digest of no ids (§5.3).
    assert!(kind_digest(&NO_IDS).to_string().starts_with("af1349b9"));
}

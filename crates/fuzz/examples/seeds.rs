//! Writes valid objects of every kind as starting points for the fuzz targets:
//! `corpus/object/` (whole signed objects) and `corpus/signed_body/` (kind index and body, as
//! `signed_body` takes them). Run from anywhere; the paths are the crate's.

use std::path::Path;

use flashback_types::{
    Agreement, Decision, EquivocationEvidence, Kind, Object, SecretKey, Signed, samples,
};

fn two_claims(
    issuer: flashback_types::PublicKey,
    subject: flashback_types::PublicKey,
    now: u64,
) -> flashback_types::Certificate {
    let mut cert = samples::certificate(issuer, subject, "iso27001", "certified", now);
    let region = samples::certificate(issuer, subject, "region", "eu-west", now).claims[0].clone();
    let mut claims = cert.claims.to_vec();
    claims.push(region);
    cert.claims = flashback_types::BoundedVec::try_from_vec(claims).unwrap();
    cert.evidence = None;
    cert
}

fn main() {
    let now = 1_800_000_000;
    let p = SecretKey::from_seed(&[7; 32]);
    let c = SecretKey::generate();
    let offer = Signed::sign(samples::offer(p.public(), "s3-eu", 1, now), &p).unwrap();
    let offer_obj = Object::from(offer.clone());
    let c_offer = Signed::sign(samples::offer(c.public(), "s3-us", 1, now), &c).unwrap();
    let c_offer_obj = Object::from(c_offer.clone());
    // p proposes on c's offer; c proposes on p's, which p decides.
    let prop = Signed::sign(
        samples::proposal(
            p.public(),
            c_offer.body(),
            c_offer_obj.id(),
            1 << 30,
            30 * 86400,
            now,
        ),
        &p,
    )
    .unwrap();
    let c_prop = Signed::sign(
        samples::proposal(
            c.public(),
            offer.body(),
            offer_obj.id(),
            1 << 30,
            30 * 86400,
            now,
        ),
        &c,
    )
    .unwrap();
    let prop_obj = Object::from(prop.clone());
    let c_prop_obj = Object::from(c_prop.clone());
    let decision = Signed::sign(
        samples::decision(c_prop.body(), c_prop_obj.id(), Decision::Accept, now),
        &p,
    )
    .unwrap();
    let objs: Vec<Object> = vec![
        offer_obj.clone(),
        Object::from(Signed::sign(samples::demand(p.public(), now), &p).unwrap()),
        prop_obj.clone(),
        Object::from(decision.clone()),
        Object::from(
            Signed::sign(
                samples::attestation(p.public(), c.public(), Some(prop_obj.id()), 10, 9, now),
                &p,
            )
            .unwrap(),
        ),
        Object::from(
            Signed::sign(
                samples::certificate(p.public(), c.public(), "iso27001", "yes", now),
                &p,
            )
            .unwrap(),
        ),
        Object::from(
            Signed::sign(samples::revocation(p.public(), offer_obj.id(), now), &p).unwrap(),
        ),
        // Several claims and no evidence: the other shape of a certificate.
        Object::from(Signed::sign(two_claims(p.public(), c.public(), now), &p).unwrap()),
        Object::from(
            Signed::sign(samples::termination(c.public(), c_prop_obj.id(), now), &c).unwrap(),
        ),
        // A grant really sealed to c, so the seed carries a well-formed ciphertext.
        Object::from(
            flashback_types::seal::grant(
                &p,
                &flashback_types::seal::AccessCredentials {
                    agreement: c_prop_obj.id(),
                    provider: p.public(),
                    consumer: c.public(),
                    protocol: flashback_types::DataProtocol::S3,
                    endpoint: "http://127.0.0.1:9000".try_into().unwrap(),
                    bucket: "fb-seed".try_into().unwrap(),
                    region: "us-east-1".try_into().unwrap(),
                    access_key: "AKSEED".try_into().unwrap(),
                    secret: flashback_types::seal::Secret::new("seed-secret").unwrap(),
                    expires_at: 0,
                },
                now,
                now + 86400,
            )
            .unwrap(),
        ),
    ];
    // The two kinds made of other objects, for the `object` target only.
    let agreement = Agreement::from_parts(c_prop.clone(), decision).unwrap();
    let other = Signed::sign(samples::offer(p.public(), "s3-eu", 1, now + 1), &p).unwrap();
    let evidence = EquivocationEvidence::from_offers(offer.clone(), other).unwrap();
    let composite = [Object::from(agreement), Object::from(evidence)];
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let (whole, bodies) = (corpus.join("object"), corpus.join("signed_body"));
    std::fs::create_dir_all(&whole).unwrap();
    std::fs::create_dir_all(&bodies).unwrap();
    for (i, o) in objs.iter().enumerate() {
        std::fs::write(whole.join(format!("seed{i}")), o.encoded()).unwrap();
        // The wire is the kind tag, the body with bincode's varint length before it (one
        // byte below 251, else 251 and a u16), then the signer and signature (96 bytes).
        let e = o.encoded();
        let end = e.len() - 96;
        let body = if usize::from(e[1]) < 251 {
            &e[2..end]
        } else {
            &e[4..end]
        };
        let index = Kind::ALL.iter().position(|k| *k == o.kind()).unwrap();
        let mut seed = vec![u8::try_from(index).unwrap()];
        seed.extend_from_slice(body);
        std::fs::write(bodies.join(format!("seed{i}")), seed).unwrap();
    }
    for (i, o) in composite.iter().enumerate() {
        std::fs::write(whole.join(format!("composite{i}")), o.encoded()).unwrap();
    }
}

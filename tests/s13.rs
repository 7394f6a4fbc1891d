//! The S13 codec and peer against byte-exact messages written here from the layouts of
//! RFC 6733 §3, §4 and TS 29.272 §7 (not from the encoder's output), and a fuzz-style
//! property test: random, truncated and mutated messages never panic and always get a
//! well-formed answer or a close.
#![cfg(feature = "s13")]

use bytes::Bytes;
use imei_index::s13::message::{Header, Message};
use imei_index::s13::{Connection, Event, Identity, IdentityCheckRequest, ResultCode, State};
use imei_index::{Entry, Imei, Imsi, Index, IndexBuilder, Rule, Status, Verdict};
use proptest::prelude::*;

const M: u8 = 0x40;
const V: u8 = 0x80;
const TGPP: u32 = 10415;
const S13: u32 = 16777252;

/// An AVP laid out by RFC 6733 §4.1: code, flags, 24-bit length (header + data, no
/// padding), the Vendor-ID when V is set, the data, zeros to a multiple of 4.
fn avp(code: u32, flags: u8, vendor: Option<u32>, data: &[u8]) -> Vec<u8> {
    let header = if vendor.is_some() { 12 } else { 8 };
    let length = header + data.len();
    let mut out = code.to_be_bytes().to_vec();
    out.push(flags | if vendor.is_some() { V } else { 0 });
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    if let Some(v) = vendor {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out
}

fn u32_avp(code: u32, vendor: Option<u32>, value: u32) -> Vec<u8> {
    avp(code, M, vendor, &value.to_be_bytes())
}

/// A message laid out by RFC 6733 §3.
fn message(
    flags: u8,
    command: u32,
    application: u32,
    hbh: u32,
    e2e: u32,
    avps: &[Vec<u8>],
) -> Vec<u8> {
    let body: Vec<u8> = avps.concat();
    let mut out = vec![1];
    out.extend_from_slice(&((20 + body.len()) as u32).to_be_bytes()[1..]);
    out.push(flags);
    out.extend_from_slice(&command.to_be_bytes()[1..]);
    for word in [application, hbh, e2e] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&body);
    out
}

const SESSION: &[u8] = b"mme.example.net;1234;5678";

fn identity() -> Identity {
    let mut me = Identity::new(
        "eir.example.net",
        "example.net",
        "192.0.2.1".parse().unwrap(),
    );
    me.origin_state_id = 7;
    me
}

fn cer() -> Vec<u8> {
    message(
        0x80,
        257,
        0,
        1,
        1,
        &[
            avp(264, M, None, b"mme.example.net"),
            avp(296, M, None, b"example.net"),
            avp(257, M, None, &[0, 1, 192, 0, 2, 9]),
            u32_avp(266, None, 0),
            avp(269, 0, None, b"test mme"),
            avp(
                260,
                M,
                None,
                &[u32_avp(266, None, TGPP), u32_avp(258, None, S13)].concat(),
            ),
        ],
    )
}

/// An ME-Identity-Check-Request (TS 29.272 §7.2.19) with the given Terminal-Information
/// content and extra AVPs.
fn ecr(terminal: &[Vec<u8>], extra: &[Vec<u8>]) -> Vec<u8> {
    let mut avps = vec![
        avp(263, M, None, SESSION),
        avp(
            260,
            M,
            None,
            &[u32_avp(266, None, TGPP), u32_avp(258, None, S13)].concat(),
        ),
        u32_avp(277, None, 1),
        avp(264, M, None, b"mme.example.net"),
        avp(296, M, None, b"example.net"),
        avp(283, M, None, b"example.net"),
        avp(1401, M, Some(TGPP), &terminal.concat()),
    ];
    avps.extend_from_slice(extra);
    message(0xc0, 324, S13, 0x1111_2222, 0x3333_4444, &avps)
}

fn imei_avp(digits: &[u8]) -> Vec<u8> {
    avp(1402, M, Some(TGPP), digits)
}

struct Fixture {
    index: Index,
    stolen: Imei,
    genuine: Imei,
    sim: Imsi,
}

/// The fixture, built once: the property tests run thousands of cases.
fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::LazyLock<Fixture> = std::sync::LazyLock::new(build_fixture);
    &FIXTURE
}

fn build_fixture() -> Fixture {
    let stolen = Imei::parse("354178036859789").unwrap();
    let genuine = Imei::parse("352099001761481").unwrap();
    let sim = Imsi::parse("404685505601234").unwrap();
    let mut b = IndexBuilder::new();
    b.add(Rule::imei(stolen, Entry::new(Status::Blocked)));
    b.add(Rule::imei(genuine, Entry::new(Status::Tracked)));
    b.add(Rule::pair(genuine, sim, Entry::new(Status::Allowed)));
    let (bytes, _) = b.build_to_vec().unwrap();
    Fixture {
        index: Index::from_bytes(bytes.into()).unwrap(),
        stolen,
        genuine,
        sim,
    }
}

/// A connection past its capabilities exchange.
fn open(f: &Fixture) -> Connection {
    let mut conn = Connection::new(identity());
    let reply = conn.receive(Bytes::from(cer()), |i, _| f.index.check(i));
    assert!(
        matches!(reply.event, Event::CapabilitiesExchanged { .. }),
        "{reply:?}"
    );
    conn
}

fn send(conn: &mut Connection, f: &Fixture, bytes: Vec<u8>) -> (Vec<u8>, Event) {
    let reply = conn.receive(Bytes::from(bytes), |imei, imsi| match imsi {
        Some(s) => f.index.check_with_imsi(imei, s),
        None => f.index.check(imei),
    });
    (reply.answer.expect("an answer").to_vec(), reply.event)
}

/// The AVPs every ECA to `ecr()` starts with: Session-Id, Vendor-Specific-Application-Id.
fn eca_head() -> Vec<Vec<u8>> {
    vec![
        avp(263, M, None, SESSION),
        avp(
            260,
            M,
            None,
            &[u32_avp(266, None, TGPP), u32_avp(258, None, S13)].concat(),
        ),
    ]
}

fn eca_origin() -> Vec<Vec<u8>> {
    vec![
        u32_avp(277, None, 1),
        avp(264, M, None, b"eir.example.net"),
        avp(296, M, None, b"example.net"),
    ]
}

#[test]
fn header_layout() {
    let bytes: [u8; 20] = [
        0x01, 0x00, 0x00, 0x14, // version 1, length 20
        0xc0, 0x00, 0x01, 0x44, // R and P, command 324
        0x01, 0x00, 0x00, 0x24, // application 16777252
        0xde, 0xad, 0xbe, 0xef, // hop-by-hop
        0x00, 0x00, 0x00, 0x2a, // end-to-end
    ];
    let h = Header::read(&bytes).unwrap();
    assert_eq!(
        (
            h.version,
            h.length,
            h.flags,
            h.command,
            h.application,
            h.hop_by_hop,
            h.end_to_end
        ),
        (1, 20, 0xc0, 324, S13, 0xdead_beef, 42)
    );
    assert_eq!(&Message::encode(&h, &[])[..], &bytes[..]);
}

#[test]
fn decodes_an_identity_check_request_written_byte_by_byte() {
    #[rustfmt::skip]
    let bytes: Vec<u8> = vec![
        0x01, 0x00, 0x00, 0xa0,   0xc0, 0x00, 0x01, 0x44,   0x01, 0x00, 0x00, 0x24,
        0x00, 0x00, 0x00, 0x01,   0x00, 0x00, 0x00, 0x02,
        // Session-Id (263), M, length 8 + 5: "s;1;2", 3 bytes padding
        0x00, 0x00, 0x01, 0x07,   0x40, 0x00, 0x00, 0x0d,   b's', b';', b'1', b';', b'2', 0, 0, 0,
        // Auth-Session-State (277) = 1
        0x00, 0x00, 0x01, 0x15,   0x40, 0x00, 0x00, 0x0c,   0x00, 0x00, 0x00, 0x01,
        // Origin-Host (264) "mme"
        0x00, 0x00, 0x01, 0x08,   0x40, 0x00, 0x00, 0x0b,   b'm', b'm', b'e', 0,
        // Origin-Realm (296) "net"
        0x00, 0x00, 0x01, 0x28,   0x40, 0x00, 0x00, 0x0b,   b'n', b'e', b't', 0,
        // Destination-Realm (283) "net"
        0x00, 0x00, 0x01, 0x1b,   0x40, 0x00, 0x00, 0x0b,   b'n', b'e', b't', 0,
        // Terminal-Information (1401), V M, vendor 10415, length 12 + 28 + 16 = 56
        0x00, 0x00, 0x05, 0x79,   0xc0, 0x00, 0x00, 0x38,   0x00, 0x00, 0x28, 0xaf,
        //   IMEI (1402), V M, length 12 + 15, 1 byte padding
        0x00, 0x00, 0x05, 0x7a,   0xc0, 0x00, 0x00, 0x1b,   0x00, 0x00, 0x28, 0xaf,
        b'3', b'5', b'2', b'0', b'9', b'9', b'0', b'0', b'1', b'7', b'6', b'1', b'4', b'8', b'1', 0,
        //   Software-Version (1403), V M, length 12 + 2, 2 bytes padding
        0x00, 0x00, 0x05, 0x7b,   0xc0, 0x00, 0x00, 0x0e,   0x00, 0x00, 0x28, 0xaf,
        b'2', b'3', 0, 0,
        // User-Name (1) "40468550560" (11 digits), length 19, 1 byte padding
        0x00, 0x00, 0x00, 0x01,   0x40, 0x00, 0x00, 0x13,
        b'4', b'0', b'4', b'6', b'8', b'5', b'5', b'0', b'5', b'6', b'0', 0,
    ];
    assert_eq!(bytes.len(), 0xa0);
    let message = Message::decode(Bytes::from(bytes)).unwrap();
    let r = IdentityCheckRequest::decode(&message).unwrap();
    assert_eq!(r.session_id, "s;1;2");
    assert_eq!(
        (r.origin_host.as_str(), r.origin_realm.as_str()),
        ("mme", "net")
    );
    assert_eq!(r.destination_realm, "net");
    assert_eq!(r.destination_host, None);
    assert_eq!(r.imei.unwrap().imei, Imei::parse("35209900176148").unwrap());
    assert!(r.imei.unwrap().check_digit.is_ok());
    assert_eq!(r.software_version, Some(23));
    assert_eq!(r.imsi, Some(Imsi::parse("40468550560").unwrap()));
    assert_eq!(r.meid, None);
}

#[test]
fn capabilities_exchange_answer_is_exact() {
    let f = fixture();
    let mut conn = Connection::new(identity());
    assert_eq!(conn.state(), State::WaitCer);
    let (answer, event) = send(&mut conn, f, cer());
    assert_eq!(
        event,
        Event::CapabilitiesExchanged {
            origin_host: "mme.example.net".into()
        }
    );
    let expected = message(
        0x00,
        257,
        0,
        1,
        1,
        &[
            u32_avp(268, None, 2001),
            avp(264, M, None, b"eir.example.net"),
            avp(296, M, None, b"example.net"),
            avp(257, M, None, &[0, 1, 192, 0, 2, 1]),
            u32_avp(266, None, 0),
            avp(269, 0, None, b"imei-index"),
            u32_avp(278, None, 7),
            u32_avp(265, None, TGPP),
            u32_avp(258, None, S13),
            avp(
                260,
                M,
                None,
                &[u32_avp(266, None, TGPP), u32_avp(258, None, S13)].concat(),
            ),
        ],
    );
    assert_eq!(answer, expected);
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn watchdog_and_disconnect_answers_are_exact() {
    let f = fixture();
    let mut conn = open(f);
    let dwr = message(
        0x80,
        280,
        0,
        9,
        10,
        &[avp(264, M, None, b"mme"), avp(296, M, None, b"net")],
    );
    let (answer, event) = send(&mut conn, f, dwr);
    assert_eq!(event, Event::Watchdog);
    let origin = [
        avp(264, M, None, b"eir.example.net"),
        avp(296, M, None, b"example.net"),
    ];
    let mut avps = vec![u32_avp(268, None, 2001)];
    avps.extend_from_slice(&origin);
    avps.push(u32_avp(278, None, 7));
    assert_eq!(answer, message(0x00, 280, 0, 9, 10, &avps));

    let dpr = message(
        0x80,
        282,
        0,
        11,
        12,
        &[
            avp(264, M, None, b"mme"),
            avp(296, M, None, b"net"),
            u32_avp(273, None, 2),
        ],
    );
    let reply = conn.receive(Bytes::from(dpr), |_, _| Verdict::unknown());
    assert_eq!(reply.event, Event::Disconnect { cause: 2 });
    assert!(reply.close);
    let mut avps = vec![u32_avp(268, None, 2001)];
    avps.extend_from_slice(&origin);
    assert_eq!(
        reply.answer.unwrap().to_vec(),
        message(0x00, 282, 0, 11, 12, &avps)
    );
}

#[test]
fn watchdog_and_disconnect_requests_are_exact() {
    let mut conn = Connection::new(identity());
    let origin = [
        avp(264, M, None, b"eir.example.net"),
        avp(296, M, None, b"example.net"),
    ];
    let dwr = conn.watchdog_request().to_vec();
    let mut avps = origin.to_vec();
    avps.push(u32_avp(278, None, 7));
    assert_eq!(dwr, message(0x80, 280, 0, 1, 7 << 20, &avps));
    let dpr = conn.disconnect_request(0).to_vec();
    let mut avps = origin.to_vec();
    avps.push(u32_avp(273, None, 0));
    assert_eq!(dpr, message(0x80, 282, 0, 2, (7 << 20) + 1, &avps));
}

#[test]
fn identity_check_answers_are_exact() {
    let f = fixture();
    let mut conn = open(f);
    // Listed: Result-Code 2001 and Equipment-Status BLACKLISTED (1).
    let digits = format!("{:014}", f.stolen.as_u64());
    let (answer, event) = send(&mut conn, f, ecr(&[imei_avp(digits.as_bytes())], &[]));
    let mut avps = eca_head();
    avps.push(u32_avp(268, None, 2001));
    avps.extend(eca_origin());
    avps.push(u32_avp(1445, Some(TGPP), 1));
    assert_eq!(
        answer,
        message(0x40, 324, S13, 0x1111_2222, 0x3333_4444, &avps)
    );
    assert!(
        matches!(event, Event::IdentityChecked { imei: Some(i), imsi: None, .. } if i == f.stolen)
    );

    // Pair via User-Name: WHITELISTED (0); without it, GREYLISTED (2).
    let digits = f.genuine.to_string();
    let user = avp(1, M, None, f.sim.to_string().as_bytes());
    for (extra, status) in [(vec![user], 0), (vec![], 2)] {
        let (answer, _) = send(&mut conn, f, ecr(&[imei_avp(digits.as_bytes())], &extra));
        let mut avps = eca_head();
        avps.push(u32_avp(268, None, 2001));
        avps.extend(eca_origin());
        avps.push(u32_avp(1445, Some(TGPP), status));
        assert_eq!(
            answer,
            message(0x40, 324, S13, 0x1111_2222, 0x3333_4444, &avps)
        );
    }

    // Unknown: Experimental-Result { Vendor-Id 10415, Experimental-Result-Code 5422 }.
    let (answer, _) = send(&mut conn, f, ecr(&[imei_avp(b"49015420323751")], &[]));
    let mut avps = eca_head();
    avps.push(avp(
        297,
        M,
        None,
        &[u32_avp(266, None, TGPP), u32_avp(298, None, 5422)].concat(),
    ));
    avps.extend(eca_origin());
    assert_eq!(
        answer,
        message(0x40, 324, S13, 0x1111_2222, 0x3333_4444, &avps)
    );

    // Proxy-Info is echoed, in order, at the end.
    let proxy1 = avp(
        284,
        M,
        None,
        &[avp(280, M, None, b"dra1"), avp(33, M, None, b"x")].concat(),
    );
    let proxy2 = avp(
        284,
        M,
        None,
        &[avp(280, M, None, b"dra2"), avp(33, M, None, b"yz")].concat(),
    );
    let extra = [proxy1.clone(), avp(282, M, None, b"dra1"), proxy2.clone()];
    let (answer, _) = send(&mut conn, f, ecr(&[imei_avp(b"49015420323751")], &extra));
    assert!(answer.ends_with(&[proxy1, proxy2].concat()));
}

/// The error answer to `ecr()`: Result-Code, Error-Message (any text) and Failed-AVP.
fn assert_error_eca(answer: &[u8], result: u32, failed: &[u8]) {
    let decoded = Message::decode(Bytes::copy_from_slice(answer)).unwrap();
    let mut avps = eca_head();
    avps.push(u32_avp(268, None, result));
    avps.extend(eca_origin());
    let head = message(0x40, 324, S13, 0x1111_2222, 0x3333_4444, &avps);
    assert_eq!(&answer[4..20], &head[4..20], "header");
    assert_eq!(
        &answer[20..head.len()],
        &head[20..],
        "AVPs before Error-Message"
    );
    let message_avp = decoded.find(281, 0).expect("Error-Message");
    assert_eq!(
        message_avp.flags, 0,
        "Error-Message must not have the M bit"
    );
    let failed_avp = avp(279, M, None, failed);
    assert!(
        answer.ends_with(&failed_avp),
        "Failed-AVP should be {failed_avp:02x?}"
    );
}

#[test]
fn malformed_requests_get_exact_failed_avps() {
    let f = fixture();
    let mut conn = open(f);
    // Inside a Grouped AVP, each AVP is padded (RFC 6733 §4.4).
    let ti = |inner: &[u8]| avp(1401, M, Some(TGPP), inner);

    // An IMEI that is not 14 or 15 digits: 5004, Failed-AVP { Terminal-Information { IMEI } }.
    let bad = imei_avp(b"12345");
    let (answer, _) = send(&mut conn, f, ecr(std::slice::from_ref(&bad), &[]));
    assert_error_eca(&answer, 5004, &ti(&bad));

    // No IMEI: 5005 with an example IMEI (empty UTF8String) inside Terminal-Information.
    let sv = avp(1403, M, Some(TGPP), b"01");
    let (answer, _) = send(&mut conn, f, ecr(&[sv], &[]));
    assert_error_eca(&answer, 5005, &ti(&avp(1402, M, Some(TGPP), b"")));

    // A malformed User-Name: 5004 naming it.
    let user = avp(1, M, None, b"4046x");
    let (answer, _) = send(
        &mut conn,
        f,
        ecr(&[imei_avp(b"35417803685978")], std::slice::from_ref(&user)),
    );
    assert_error_eca(&answer, 5004, &user);

    // An unknown AVP with the M bit: 5001 naming it.
    let unknown = avp(4242, M, Some(99), b"??");
    let (answer, _) = send(
        &mut conn,
        f,
        ecr(
            &[imei_avp(b"35417803685978")],
            std::slice::from_ref(&unknown),
        ),
    );
    assert_error_eca(&answer, 5001, &unknown);

    // Two Terminal-Information AVPs: 5009 naming the second.
    let second = avp(1401, M, Some(TGPP), &imei_avp(b"35209900176148"));
    let (answer, _) = send(
        &mut conn,
        f,
        ecr(
            &[imei_avp(b"35417803685978")],
            std::slice::from_ref(&second),
        ),
    );
    assert_error_eca(&answer, 5009, &second);

    // An Auth-Session-State of 3 bytes: 5014 with the AVP and 4 zero bytes of data.
    let mut bytes = ecr(&[imei_avp(b"35417803685978")], &[]);
    let at = find_avp(&bytes, 277);
    bytes[at + 7] = 11; // length 11: 3 bytes of data
    let (answer, _) = send(&mut conn, f, bytes);
    assert_error_eca(&answer, 5014, &avp(277, M, None, &[0; 4]));

    // An AVP length past the end: 5014 with its header, zero data, length of the header.
    let mut bytes = ecr(
        &[imei_avp(b"35417803685978")],
        &[avp(1, M, None, b"404685505601234")],
    );
    let at = find_avp(&bytes, 1);
    bytes[at + 6] = 1; // length 256 + ...
    let (answer, _) = send(&mut conn, f, bytes);
    assert_error_eca(&answer, 5014, &[0, 0, 0, 1, M, 0, 0, 8]);
}

/// The offset of the first top-level AVP `code` in a message.
fn find_avp(message: &[u8], code: u32) -> usize {
    let mut at = 20;
    loop {
        let c = u32::from_be_bytes(message[at..at + 4].try_into().unwrap());
        if c == code {
            return at;
        }
        let len =
            u32::from_be_bytes([0, message[at + 5], message[at + 6], message[at + 7]]) as usize;
        at += len.div_ceil(4) * 4;
    }
}

#[test]
fn header_errors_get_e_bit_answers() {
    let f = fixture();
    // (flags, command, application) → result.
    let cases = [
        (0xe0, 324, S13, 3008), // E bit on a request
        (0x80, 324, S13, 3008), // ECR without P
        (0xc0, 999, S13, 3001),
        (0xc0, 324, 4, 3007),
        (0xc0, 280, 0, 3008), // DWR with P
    ];
    for (flags, command, application, result) in cases {
        let mut conn = open(f);
        let mut bytes = ecr(&[imei_avp(b"35417803685978")], &[]);
        bytes[4] = flags;
        bytes[5..8].copy_from_slice(&(command as u32).to_be_bytes()[1..]);
        bytes[8..12].copy_from_slice(&application.to_be_bytes());
        let (answer, event) = send(&mut conn, f, bytes);
        let expected_flags = 0x20 | (flags & 0x40);
        assert_eq!(answer[4], expected_flags, "flags for {cases:?}");
        assert_eq!(&answer[5..8], &(command as u32).to_be_bytes()[1..]);
        assert_eq!(&answer[8..12], &application.to_be_bytes());
        assert_eq!(
            &answer[12..20],
            &[0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44]
        );
        // Session-Id first, then Result-Code, Origin-Host, Origin-Realm, Origin-State-Id.
        let head = [
            avp(263, M, None, SESSION),
            u32_avp(268, None, result),
            avp(264, M, None, b"eir.example.net"),
            avp(296, M, None, b"example.net"),
            u32_avp(278, None, 7),
        ]
        .concat();
        assert_eq!(&answer[20..20 + head.len()], &head[..], "result {result}");
        assert!(matches!(event, Event::Refused(f) if f.result == ResultCode(result)));
        assert_eq!(conn.state(), State::Open);
    }
}

#[test]
fn framing_errors_are_answered_then_closed() {
    let f = fixture();
    let mut conn = open(f);
    let mut bytes = ecr(&[imei_avp(b"35417803685978")], &[]);
    bytes[3] = bytes[3].wrapping_add(4); // the length field disagrees with the bytes
    let reply = conn.receive(Bytes::from(bytes), |i, _| f.index.check(i));
    let answer = reply.answer.unwrap();
    assert!(reply.close);
    assert_eq!(answer[4], 0x40, "5015 is not a protocol error: no E bit");
    let decoded = Message::decode(answer).unwrap();
    assert_eq!(decoded.find(268, 0).unwrap().u32().unwrap(), 5015);

    let mut conn = open(f);
    let mut bytes = ecr(&[imei_avp(b"35417803685978")], &[]);
    bytes[0] = 2;
    let reply = conn.receive(Bytes::from(bytes), |i, _| f.index.check(i));
    let decoded = Message::decode(reply.answer.unwrap()).unwrap();
    assert_eq!(decoded.find(268, 0).unwrap().u32().unwrap(), 5011);

    let reply = Connection::new(identity())
        .receive(Bytes::from_static(&[1, 0, 0]), |_, _| Verdict::unknown());
    assert_eq!(
        (reply.answer, reply.close, reply.event),
        (None, true, Event::Unreadable)
    );
}

#[test]
fn oversized_messages_are_refused_without_echoes() {
    let f = fixture();
    let mut conn = open(f);
    let huge = avp(
        1,
        M,
        None,
        &vec![b'1'; imei_index::s13::message::MAX_MESSAGE_LEN],
    );
    let bytes = ecr(&[imei_avp(b"35417803685978")], &[huge]);
    let reply = conn.receive(Bytes::from(bytes), |i, _| f.index.check(i));
    assert!(reply.close);
    let answer = reply.answer.unwrap();
    assert!(answer.len() < 512, "{} bytes", answer.len());
    let decoded = Message::decode(answer).unwrap();
    assert_eq!(decoded.find(268, 0).unwrap().u32().unwrap(), 5012);
    assert!(decoded.find(263, 0).is_none() && decoded.find(279, 0).is_none());
}

#[test]
fn capabilities_exchange_without_s13_is_refused_and_closed() {
    let f = fixture();
    let mut conn = Connection::new(identity());
    let mut bytes = cer();
    bytes.truncate(bytes.len() - 32); // drop the Vendor-Specific-Application-Id
    let len = bytes.len() as u32;
    bytes[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
    let reply = conn.receive(Bytes::from(bytes), |i, _| f.index.check(i));
    let decoded = Message::decode(reply.answer.unwrap()).unwrap();
    assert_eq!(decoded.find(268, 0).unwrap().u32().unwrap(), 5010);
    assert!(reply.close);
    assert_eq!(conn.state(), State::Closed);
}

/// Every answer the connection sends must itself be a valid message answering the request.
fn assert_well_formed(request: &[u8], reply: &imei_index::s13::Reply) {
    if let Some(answer) = &reply.answer {
        let decoded = Message::decode(answer.clone()).expect("the answer decodes");
        assert!(!decoded.header.is_request());
        assert_eq!(
            &answer[5..20],
            &request[5..20],
            "command, application and ids"
        );
        assert!(decoded.find(264, 0).is_some() && decoded.find(296, 0).is_some());
        let result = decoded.find(268, 0).map(|a| a.u32().unwrap());
        let experimental = decoded.find(297, 0).is_some();
        assert!(
            result.is_some() != experimental,
            "one of Result-Code and Experimental-Result"
        );
    }
}

fn valid_messages() -> Vec<Vec<u8>> {
    vec![
        cer(),
        ecr(
            &[imei_avp(b"35417803685978"), avp(1403, M, Some(TGPP), b"07")],
            &[avp(1, M, None, b"404685505601234")],
        ),
        message(
            0x80,
            280,
            0,
            3,
            4,
            &[avp(264, M, None, b"mme"), avp(296, M, None, b"net")],
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), open_first in any::<bool>()) {
        let f = fixture();
        let mut conn = if open_first { open(f) } else { Connection::new(identity()) };
        let reply = conn.receive(Bytes::from(bytes.clone()), |i, _| f.index.check(i));
        assert_well_formed(&bytes, &reply);
    }

    #[test]
    fn random_headers_with_valid_lengths_never_panic(
        head in proptest::collection::vec(any::<u8>(), 16),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // A random body framed by a consistent length, so that decoding gets past the header.
        let f = fixture();
        let mut conn = open(f);
        let mut bytes = vec![1];
        let body: Vec<u8> = body.iter().copied().chain(std::iter::repeat(0)).take(body.len().div_ceil(4) * 4).collect();
        bytes.extend_from_slice(&((20 + body.len()) as u32).to_be_bytes()[1..]);
        bytes.extend_from_slice(&head);
        bytes[4] |= 0x80;
        bytes[4] &= !0x20;
        bytes.extend_from_slice(&body);
        let reply = conn.receive(Bytes::from(bytes.clone()), |i, _| f.index.check(i));
        assert_well_formed(&bytes, &reply);
        prop_assert!(reply.answer.is_some(), "every request with a good header is answered");
    }

    #[test]
    fn truncated_and_mutated_messages_never_panic(
        which in 0usize..3,
        cut in 0usize..400,
        flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..4),
        fix_length in any::<bool>(),
    ) {
        let f = fixture();
        let mut bytes = valid_messages()[which].clone();
        bytes.truncate(cut.min(bytes.len()));
        for (at, value) in flips {
            if !bytes.is_empty() {
                let n = bytes.len();
                bytes[at % n] = value;
            }
        }
        if fix_length && bytes.len() >= 4 {
            let len = bytes.len() as u32;
            bytes[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
        }
        let mut conn = if which == 0 { Connection::new(identity()) } else { open(f) };
        let reply = conn.receive(Bytes::from(bytes.clone()), |imei, imsi| match imsi {
            Some(s) => f.index.check_with_imsi(imei, s),
            None => f.index.check(imei),
        });
        assert_well_formed(&bytes, &reply);
        let _ = Message::decode(Bytes::from(bytes.clone()));
        if let Ok(m) = Message::decode(Bytes::from(bytes)) {
            let _ = IdentityCheckRequest::decode(&m);
        }
    }
}

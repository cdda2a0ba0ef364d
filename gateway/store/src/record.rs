//! Journal records and their checksummed on-disk frame.
//!
//! The frame is a small hand-written binary format rather than JSON because
//! payloads and answers are opaque bytes (JSON would inflate them into number
//! arrays) and because the decoder must be strict: every length is checked
//! against the bytes actually present and trailing bytes are an error, so a
//! torn or altered record can never decode into a different, plausible record.
//!
//! ```text
//! frame   = 1 crc32:u32be body                     crc32 covers all of `body`
//!         | 2 crc32:u32be len:u32be lz4[..]          `body` compressed (LZ4 block) to
//!                                                    `len` bytes; crc32 covers len and lz4
//! body    = kind:str16 key:opt(str16 str16) idem payload:bytes32 writes:u32be write*
//! idem    = 0                                          (no idempotency data)
//!         | 1 sha256[32] answer:bytes32                (answer stored on its own)
//!         | 2 sha256[32] at:u32be len:u32be            (answer = payload[at..at+len])
//! write   = 1 space:str16 key:bytes32 value:bytes32      (put)
//!         | 2 space:str16 key:bytes32                    (delete)
//! str16   = len:u16be utf8[len]      bytes32 = len:u32be byte[len]
//! opt(x)  = 0 | 1 x
//! ```

use std::cell::RefCell;

use lz4_flex::block::{
    CompressTable, compress_into_with_table, decompress_into, get_maximum_output_size,
};

use crate::error::StoreError;

/// Version byte of a frame whose body is stored as is; add a version (and keep the decoders
/// of the old ones) when the layout changes.
const FRAME_VERSION: u8 = 1;
/// Version byte of a frame whose body is LZ4-compressed.
///
/// Why: sled keeps values inside its B-tree nodes and rewrites whole nodes as it consolidates,
/// splits and garbage-collects them, so each journal byte is written to sled's log several
/// times over (~21 KB of log per ~4 KB record was measured). The JSON in a record compresses
/// ~3×, at a few µs per record, once, outside the append lock.
const FRAME_VERSION_LZ4: u8 = 2;
/// Bytes before the body: version + crc32.
const FRAME_HEADER_BYTES: usize = 5;
/// Bodies shorter than this are stored as is: too little to gain.
const FRAME_COMPRESS_MIN_BYTES: usize = 256;

const IDEM_NONE: u8 = 0;
const IDEM_ANSWER_INLINE: u8 = 1;
/// The answer is a slice of the payload. Callers journal the answer inside the payload (the
/// national exchange record is `{…,"request":…,"answer":<answer>,…}`), so storing it a second
/// time cost ~20 % of every frame's bytes — bytes sled writes several times over as it
/// consolidates and splits journal nodes.
const IDEM_ANSWER_IN_PAYLOAD: u8 = 2;

const WRITE_PUT: u8 = 1;
const WRITE_DELETE: u8 = 2;

/// An absolute write to a state keyspace, carried inside a journal record and
/// applied after it. Absolute (not "add 5") so that applying it twice — which
/// replay after a crash does — gives the same state as applying it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateWrite {
    /// Set `key` in `space` to `value`.
    Put {
        space: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Remove `key` from `space` (no error if absent).
    Delete { space: String, key: Vec<u8> },
}

impl StateWrite {
    /// Convenience constructor for [`StateWrite::Put`].
    pub fn put(
        space: impl Into<String>,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        StateWrite::Put {
            space: space.into(),
            key: key.into(),
            value: value.into(),
        }
    }

    /// Convenience constructor for [`StateWrite::Delete`].
    pub fn delete(space: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        StateWrite::Delete {
            space: space.into(),
            key: key.into(),
        }
    }

    /// The keyspace this write targets.
    pub fn space(&self) -> &str {
        match self {
            StateWrite::Put { space, .. } | StateWrite::Delete { space, .. } => space,
        }
    }
}

/// What an idempotent append stored besides the record: enough to rebuild the
/// idempotency index entry from the journal alone (replay after a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// SHA-256 of the request body as the caller canonicalised it.
    pub body_sha256: [u8; 32],
    /// The exact answer bytes sent to the caller; returned byte-for-byte for a duplicate.
    pub answer: Vec<u8>,
}

/// One journal record. The store treats `payload` as opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// Record kind, e.g. `"nhsa.request"`, `"settlement"`, `"bank.batch"`.
    pub kind: String,
    /// `(fixmedins_code, msgid)` for records that answer a request.
    pub key: Option<(String, String)>,
    /// Opaque caller bytes (typically JSON: request, canonical form, answer).
    pub payload: Vec<u8>,
    /// State writes applied after the record is journaled (and again on replay).
    pub state_writes: Vec<StateWrite>,
    /// Set by [`crate::Store::append_idempotent`]; must be `None` for [`crate::Store::append`].
    pub idempotency: Option<Idempotency>,
}

impl JournalRecord {
    /// A record of `kind` with `payload`, no key and no state writes.
    pub fn new(kind: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        JournalRecord {
            kind: kind.into(),
            key: None,
            payload: payload.into(),
            state_writes: Vec::new(),
            idempotency: None,
        }
    }

    /// Sets the `(fixmedins_code, msgid)` key.
    pub fn with_key(mut self, fixmedins_code: impl Into<String>, msgid: impl Into<String>) -> Self {
        self.key = Some((fixmedins_code.into(), msgid.into()));
        self
    }

    /// Adds a state write.
    pub fn with_write(mut self, write: StateWrite) -> Self {
        self.state_writes.push(write);
        self
    }

    /// Encodes the record into its checksummed frame. Fails only when a field
    /// is too long for its length prefix (a caller error). The store goes through
    /// `encode_body` + [`frame_of`] to check the size limit in between.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> Result<Vec<u8>, StoreError> {
        Ok(frame_of(self.encode_body()?))
    }

    /// The record's body, before framing (and compression).
    pub(crate) fn encode_body(&self) -> Result<Vec<u8>, StoreError> {
        let mut body = Vec::with_capacity(64 + self.payload.len());
        put_str16(&mut body, "kind", &self.kind)?;
        match &self.key {
            None => body.push(0),
            Some((code, msgid)) => {
                body.push(1);
                put_str16(&mut body, "fixmedins_code", code)?;
                put_str16(&mut body, "msgid", msgid)?;
            }
        }
        match &self.idempotency {
            None => body.push(IDEM_NONE),
            Some(idem) => match answer_in_payload(&idem.answer, &self.payload) {
                Some((at, len)) => {
                    body.push(IDEM_ANSWER_IN_PAYLOAD);
                    body.extend_from_slice(&idem.body_sha256);
                    body.extend_from_slice(&at.to_be_bytes());
                    body.extend_from_slice(&len.to_be_bytes());
                }
                None => {
                    body.push(IDEM_ANSWER_INLINE);
                    body.extend_from_slice(&idem.body_sha256);
                    put_bytes32(&mut body, "answer", &idem.answer)?;
                }
            },
        }
        put_bytes32(&mut body, "payload", &self.payload)?;
        let count = u32::try_from(self.state_writes.len())
            .map_err(|_| StoreError::InvalidRecord("too many state writes".into()))?;
        body.extend_from_slice(&count.to_be_bytes());
        for write in &self.state_writes {
            match write {
                StateWrite::Put { space, key, value } => {
                    body.push(WRITE_PUT);
                    put_str16(&mut body, "space", space)?;
                    put_bytes32(&mut body, "state key", key)?;
                    put_bytes32(&mut body, "state value", value)?;
                }
                StateWrite::Delete { space, key } => {
                    body.push(WRITE_DELETE);
                    put_str16(&mut body, "space", space)?;
                    put_bytes32(&mut body, "state key", key)?;
                }
            }
        }
        Ok(body)
    }

    /// Verifies the checksum and decodes a frame read at `offset`. Any
    /// mismatch is [`StoreError::Corrupt`] naming the offset.
    pub(crate) fn decode(offset: u64, frame: &[u8]) -> Result<Self, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { offset, reason };
        if frame.len() < FRAME_HEADER_BYTES {
            return Err(corrupt(format!(
                "frame of {} bytes is shorter than its header",
                frame.len()
            )));
        }
        let version = frame[0];
        if version != FRAME_VERSION && version != FRAME_VERSION_LZ4 {
            return Err(corrupt(format!("unknown frame version {version}")));
        }
        let stored_crc = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]);
        let checked = &frame[FRAME_HEADER_BYTES..];
        let actual_crc = crc32fast::hash(checked);
        if stored_crc != actual_crc {
            return Err(corrupt(format!(
                "checksum mismatch: stored crc32 {stored_crc:08x}, computed {actual_crc:08x}"
            )));
        }
        let decompressed;
        let body = if version == FRAME_VERSION_LZ4 {
            decompressed = decompress_body(checked).map_err(corrupt)?;
            &decompressed[..]
        } else {
            checked
        };
        // The checksum matched, so a decode failure below means a writer bug
        // or a collision; still an error, never a silently skipped record.
        let mut r = Reader { buf: body, pos: 0 };
        let record = decode_body(&mut r).map_err(corrupt)?;
        if r.pos != body.len() {
            return Err(corrupt(format!(
                "{} trailing bytes after record",
                body.len() - r.pos
            )));
        }
        Ok(record)
    }
}

fn decode_body(r: &mut Reader<'_>) -> Result<JournalRecord, String> {
    let kind = r.str16("kind")?;
    let key = match r.u8("key tag")? {
        0 => None,
        1 => Some((r.str16("fixmedins_code")?, r.str16("msgid")?)),
        t => return Err(format!("bad key tag {t}")),
    };
    enum Answer {
        Inline(Vec<u8>),
        InPayload { at: u32, len: u32 },
    }
    let idempotency = match r.u8("idempotency tag")? {
        IDEM_NONE => None,
        tag @ (IDEM_ANSWER_INLINE | IDEM_ANSWER_IN_PAYLOAD) => {
            let mut body_sha256 = [0u8; 32];
            body_sha256.copy_from_slice(r.take(32, "body_sha256")?);
            let answer = if tag == IDEM_ANSWER_INLINE {
                Answer::Inline(r.bytes32("answer")?)
            } else {
                Answer::InPayload {
                    at: r.u32("answer offset")?,
                    len: r.u32("answer length")?,
                }
            };
            Some((body_sha256, answer))
        }
        t => return Err(format!("bad idempotency tag {t}")),
    };
    let payload = r.bytes32("payload")?;
    let idempotency = match idempotency {
        None => None,
        Some((body_sha256, Answer::Inline(answer))) => Some(Idempotency {
            body_sha256,
            answer,
        }),
        Some((body_sha256, Answer::InPayload { at, len })) => {
            let (at, len) = (at as usize, len as usize);
            let answer = at
                .checked_add(len)
                .and_then(|end| payload.get(at..end))
                .ok_or_else(|| {
                    format!(
                        "answer at {at}+{len} lies outside the payload of {} bytes",
                        payload.len()
                    )
                })?;
            Some(Idempotency {
                body_sha256,
                answer: answer.to_vec(),
            })
        }
    };
    let count = r.u32("write count")?;
    let mut state_writes = Vec::new();
    for _ in 0..count {
        let write = match r.u8("write op")? {
            WRITE_PUT => StateWrite::Put {
                space: r.str16("space")?,
                key: r.bytes32("state key")?,
                value: r.bytes32("state value")?,
            },
            WRITE_DELETE => StateWrite::Delete {
                space: r.str16("space")?,
                key: r.bytes32("state key")?,
            },
            op => return Err(format!("bad write op {op}")),
        };
        state_writes.push(write);
    }
    Ok(JournalRecord {
        kind,
        key,
        payload,
        state_writes,
        idempotency,
    })
}

thread_local! {
    /// The compressor's hash table, one per thread: allocating and zeroing a fresh 8 KiB table
    /// for every record was ~1 % of the gateway's CPU per request. Cleared before each use.
    static COMPRESS_TABLE: RefCell<CompressTable> = RefCell::new(CompressTable::default());
}

/// The frame of `body`: compressed when that makes it smaller.
pub(crate) fn frame_of(body: Vec<u8>) -> Vec<u8> {
    if body.len() >= FRAME_COMPRESS_MIN_BYTES
        && let Ok(len) = u32::try_from(body.len())
    {
        let mut frame = vec![0u8; FRAME_HEADER_BYTES + 4 + get_maximum_output_size(body.len())];
        frame[0] = FRAME_VERSION_LZ4;
        frame[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + 4].copy_from_slice(&len.to_be_bytes());
        if let Ok(n) = COMPRESS_TABLE.with_borrow_mut(|table| {
            compress_into_with_table(&body, &mut frame[FRAME_HEADER_BYTES + 4..], table)
        }) && 4 + n < body.len()
        {
            frame.truncate(FRAME_HEADER_BYTES + 4 + n);
            let crc = crc32fast::hash(&frame[FRAME_HEADER_BYTES..]);
            frame[1..FRAME_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
            return frame;
        }
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
    frame.push(FRAME_VERSION);
    frame.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The body of a compressed frame (`len:u32be lz4[..]`, checksum already verified).
fn decompress_body(checked: &[u8]) -> Result<Vec<u8>, String> {
    let mut r = Reader {
        buf: checked,
        pos: 0,
    };
    let len = r.u32("uncompressed length")? as usize;
    let lz4 = &checked[r.pos..];
    let mut body = vec![0u8; len];
    match decompress_into(lz4, &mut body) {
        Ok(n) if n == len => Ok(body),
        Ok(n) => Err(format!(
            "compressed body gave {n} bytes, its header says {len}"
        )),
        Err(e) => Err(format!("compressed body does not decompress: {e}")),
    }
}

/// Length of the answer prefix searched for in the payload (see [`answer_in_payload`]).
const ANSWER_PROBE_BYTES: usize = 32;

/// Where `answer` occurs in `payload`, as frame fields, if it does (and is not empty: an empty
/// answer costs nothing inline).
fn answer_in_payload(answer: &[u8], payload: &[u8]) -> Option<(u32, u32)> {
    if answer.is_empty() {
        return None;
    }
    // Search for a short prefix and compare the rest at each hit: a searcher built for the
    // whole answer (a KiB or more) cost more to set up than the search itself.
    let probe = &answer[..answer.len().min(ANSWER_PROBE_BYTES)];
    let at =
        memchr::memmem::find_iter(payload, probe).find(|&at| payload[at..].starts_with(answer))?;
    Some((u32::try_from(at).ok()?, u32::try_from(answer.len()).ok()?))
}

fn put_str16(out: &mut Vec<u8>, what: &str, s: &str) -> Result<(), StoreError> {
    let len = u16::try_from(s.len())
        .map_err(|_| StoreError::InvalidRecord(format!("{what} longer than {} bytes", u16::MAX)))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_bytes32(out: &mut Vec<u8>, what: &str, b: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(b.len())
        .map_err(|_| StoreError::InvalidRecord(format!("{what} longer than {} bytes", u32::MAX)))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// Bounds-checked cursor: every read names what it was reading when the
/// bytes ran out, so a corruption report says where.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| format!("truncated while reading {what} ({n} bytes at {})", self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn str16(&mut self, what: &str) -> Result<String, String> {
        let b = self.take(2, what)?;
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        let s = self.take(len, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }
    fn bytes32(&mut self, what: &str) -> Result<Vec<u8>, String> {
        let len = self.u32(what)?;
        let len = usize::try_from(len).map_err(|_| format!("{what} length overflows"))?;
        Ok(self.take(len, what)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A frame of `version` around `rest` with a checksum that matches: what only a writer bug
    /// (or a collision) could produce, so the decoder's own checks must catch it.
    fn forged(version: u8, rest: &[u8]) -> Vec<u8> {
        let mut frame = vec![version];
        frame.extend_from_slice(&crc32fast::hash(rest).to_be_bytes());
        frame.extend_from_slice(rest);
        frame
    }

    fn sample() -> JournalRecord {
        let mut r = JournalRecord::new("settlement", b"{\"a\":1}".to_vec())
            .with_key("H11010800001", "msg-1")
            .with_write(StateWrite::put("acc", b"p1".to_vec(), b"100".to_vec()))
            .with_write(StateWrite::delete("visit", b"v9".to_vec()));
        r.idempotency = Some(Idempotency {
            body_sha256: [7; 32],
            answer: b"answer".to_vec(),
        });
        r
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let frame = r.encode().unwrap();
        assert_eq!(JournalRecord::decode(3, &frame).unwrap(), r);
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let frame = sample().encode().unwrap();
        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x01;
            match JournalRecord::decode(42, &bad) {
                Err(StoreError::Corrupt { offset: 42, .. }) => {}
                other => panic!("flip at byte {i} not detected: {other:?}"),
            }
        }
    }

    #[test]
    fn truncation_and_trailing_bytes_are_detected() {
        let frame = sample().encode().unwrap();
        for len in 0..frame.len() {
            assert!(
                JournalRecord::decode(1, &frame[..len]).is_err(),
                "truncated to {len}"
            );
        }
        // Trailing garbage with a re-computed checksum still fails: the
        // decoder must consume the body exactly.
        let mut body = frame[FRAME_HEADER_BYTES..].to_vec();
        body.push(0);
        let err = JournalRecord::decode(5, &forged(FRAME_VERSION, &body)).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    /// A record whose answer is part of its payload, as the gateway journals exchanges.
    fn exchange() -> JournalRecord {
        let answer = br#"{"infcode":0,"output":{"setlinfo":{"setl_id":"S1"}}}"#.to_vec();
        let mut payload = br#"{"request":{"infno":"2207"},"response":"#.to_vec();
        payload.extend_from_slice(&answer);
        payload.push(b'}');
        let mut r = JournalRecord::new("nhsa.settlement", payload).with_key("H1", "m1");
        r.idempotency = Some(Idempotency {
            body_sha256: [9; 32],
            answer,
        });
        r
    }

    #[test]
    fn an_answer_inside_the_payload_is_stored_once() {
        let r = exchange();
        let answer_len = r.idempotency.as_ref().unwrap().answer.len();
        let frame = r.encode().unwrap();
        assert_eq!(JournalRecord::decode(0, &frame).unwrap(), r);
        let mut apart = r.clone();
        apart.idempotency.as_mut().unwrap().answer.push(b' ');
        let apart_frame = apart.encode().unwrap();
        assert_eq!(JournalRecord::decode(0, &apart_frame).unwrap(), apart);
        // Inline: 4-byte length + the answer; in the payload: 4-byte offset + 4-byte length.
        assert_eq!(apart_frame.len(), frame.len() + (answer_len + 1) + 4 - 8);
    }

    #[test]
    fn an_answer_is_found_after_an_earlier_partial_match() {
        let answer = br#"{"infcode":0,"inf_refmsgid":"4403002026120201010100000001","output":{}}"#;
        // The request quotes the answer's first 40 bytes; the answer itself comes later.
        let mut payload = br#"{"request":"#.to_vec();
        payload.extend_from_slice(&answer[..40]);
        payload.extend_from_slice(br#"","response":"#);
        payload.extend_from_slice(answer);
        payload.push(b'}');
        let mut r = JournalRecord::new("k", payload.clone());
        r.idempotency = Some(Idempotency {
            body_sha256: [3; 32],
            answer: answer.to_vec(),
        });
        let at = payload.len() - 1 - answer.len();
        assert_eq!(
            answer_in_payload(answer, &payload),
            Some((at as u32, answer.len() as u32))
        );
        assert_eq!(JournalRecord::decode(0, &r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn an_answer_range_outside_the_payload_is_corrupt() {
        let r = exchange();
        let frame = r.encode().unwrap();
        let mut body = frame[FRAME_HEADER_BYTES..].to_vec();
        // kind, key, tag, sha: the answer's offset follows.
        let at = 2 + r.kind.len() + 1 + 2 + 2 + 2 + 2 + 1 + 32;
        assert_eq!(body[at - 33], IDEM_ANSWER_IN_PAYLOAD);
        body[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = JournalRecord::decode(8, &forged(FRAME_VERSION, &body)).unwrap_err();
        assert!(err.to_string().contains("outside the payload"), "{err}");
    }

    /// A record as large and as repetitive as a journaled settlement (JSON).
    fn settlement_like() -> JournalRecord {
        let line =
            r#"{"feedetl_sn":"F0001","med_list_codg":"XA01","det_item_fee_sumamt":"12.50"},"#;
        let payload = format!(r#"{{"request":{{"feedetail":[{}]}}}}"#, line.repeat(40));
        JournalRecord::new("nhsa.settlement", payload.into_bytes())
            .with_key("H44030000001", "H4403000000120261202101010001")
            .with_write(StateWrite::put(
                "core.visit",
                b"V1".to_vec(),
                line.repeat(5).into_bytes(),
            ))
    }

    #[test]
    fn a_large_body_is_compressed_and_round_trips() {
        let r = settlement_like();
        let body = r.encode_body().unwrap();
        let frame = r.encode().unwrap();
        assert_eq!(frame[0], FRAME_VERSION_LZ4);
        assert!(
            frame.len() * 3 < body.len(),
            "{} of {}",
            frame.len(),
            body.len()
        );
        assert_eq!(JournalRecord::decode(0, &frame).unwrap(), r);
    }

    #[test]
    fn small_or_incompressible_bodies_are_stored_as_is() {
        assert_eq!(sample().encode().unwrap()[0], FRAME_VERSION);
        // A byte sequence without repeats (LZ4 would only add its overhead).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                // xorshift64: no repeats LZ4 could use.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        let r = JournalRecord::new("k", noise);
        let frame = r.encode().unwrap();
        assert_eq!(frame[0], FRAME_VERSION);
        assert_eq!(JournalRecord::decode(0, &frame).unwrap(), r);
    }

    #[test]
    fn damage_to_a_compressed_frame_is_detected() {
        let frame = settlement_like().encode().unwrap();
        assert_eq!(frame[0], FRAME_VERSION_LZ4);
        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(
                    JournalRecord::decode(7, &bad),
                    Err(StoreError::Corrupt { offset: 7, .. })
                ),
                "flip at byte {i} not detected"
            );
        }
        for len in 0..frame.len() {
            assert!(
                JournalRecord::decode(1, &frame[..len]).is_err(),
                "truncated to {len}"
            );
        }
    }

    #[test]
    fn a_compressed_frame_whose_length_lies_is_corrupt() {
        let frame = settlement_like().encode().unwrap();
        let mut rest = frame[FRAME_HEADER_BYTES..].to_vec();
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap());
        for wrong in [len - 1, len + 1, 0] {
            rest[..4].copy_from_slice(&wrong.to_be_bytes());
            let err = JournalRecord::decode(3, &forged(FRAME_VERSION_LZ4, &rest)).unwrap_err();
            assert!(err.to_string().contains("compressed body"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn compressible_records_round_trip(
            unit in proptest::collection::vec(any::<u8>(), 1..40),
            times in 1usize..200,
            tail in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut payload = unit.repeat(times);
            payload.extend_from_slice(&tail);
            let record = JournalRecord::new("k", payload)
                .with_write(StateWrite::put("s", unit.clone(), unit.repeat(times)));
            let frame = record.encode().unwrap();
            prop_assert_eq!(JournalRecord::decode(0, &frame).unwrap(), record);
        }

        #[test]
        fn answers_cut_from_the_payload_round_trip(
            payload in proptest::collection::vec(any::<u8>(), 1..300),
            from in any::<prop::sample::Index>(),
            len in any::<prop::sample::Index>(),
        ) {
            let at = from.index(payload.len());
            let len = len.index(payload.len() - at) + 1;
            let mut record = JournalRecord::new("k", payload.clone());
            record.idempotency = Some(Idempotency {
                body_sha256: [1; 32],
                answer: payload[at..at + len].to_vec(),
            });
            let frame = record.encode().unwrap();
            prop_assert_eq!(JournalRecord::decode(0, &frame).unwrap(), record);
        }

        #[test]
        fn arbitrary_records_round_trip(
            kind in ".{0,20}",
            key in proptest::option::of((".{0,12}", ".{0,12}")),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            puts in proptest::collection::vec(("[a-z]{1,8}", proptest::collection::vec(any::<u8>(), 0..16), proptest::collection::vec(any::<u8>(), 0..16)), 0..5),
            idem in proptest::option::of((any::<[u8; 32]>(), proptest::collection::vec(any::<u8>(), 0..64))),
        ) {
            let record = JournalRecord {
                kind,
                key,
                payload,
                state_writes: puts.into_iter().map(|(s, k, v)| StateWrite::put(s, k, v)).collect(),
                idempotency: idem.map(|(h, a)| Idempotency { body_sha256: h, answer: a }),
            };
            let frame = record.encode().unwrap();
            prop_assert_eq!(JournalRecord::decode(0, &frame).unwrap(), record);
        }
    }
}

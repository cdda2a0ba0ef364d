//! Crash-test helper for `tests/kill9.rs`.
//!
//! `store-crash-writer DIR RUN_ID THREADS` appends idempotent records from
//! THREADS threads forever (until killed). Each record carries two state
//! writes; after `wait_durable_blocking` succeeds, and only then, it prints
//! `ack OFFSET CODE MSGID` on stdout (one `write` per line, flushed), so every
//! printed line is an acknowledgement the store must honour after `kill -9`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use medsettle_store::{
    IdempotentOutcome, JournalRecord, SledStore, StateWrite, Store, StoreConfig,
};

/// Payload sizes cycle through these (bytes); the last one exceeds sled's
/// inline item limit (segment size / 4) so blob files are exercised too. It
/// is rare because the crash test re-reads the whole journal after every kill.
const PAYLOAD_BYTES: [usize; 8] = [64, 900, 4_000, 64, 900, 4_000, 900, 200_000];

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(run), Some(threads)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: store-crash-writer DIR RUN_ID THREADS");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().expect("THREADS must be a number");
    let store =
        Arc::new(SledStore::open(&PathBuf::from(dir), StoreConfig::default()).expect("open"));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    eprintln!("ready");
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, out, run) = (Arc::clone(&store), Arc::clone(&out), run.clone());
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let code = format!("H{t:02}");
                    let msgid = format!("{run}-{t}-{i}");
                    let size = PAYLOAD_BYTES[(i as usize) % PAYLOAD_BYTES.len()];
                    let record = JournalRecord::new("nhsa.request", vec![b'x'; size])
                        .with_key(code.clone(), msgid.clone())
                        // Absolute writes: "last msgid of this thread" and one per record.
                        .with_write(StateWrite::put(
                            "last",
                            code.clone().into_bytes(),
                            msgid.clone().into_bytes(),
                        ))
                        .with_write(StateWrite::put(
                            "seen",
                            msgid.clone().into_bytes(),
                            i.to_be_bytes().to_vec(),
                        ));
                    let mut sha = [0u8; 32];
                    sha[..8].copy_from_slice(&i.to_be_bytes());
                    let outcome = store
                        .append_idempotent(record, sha, format!("answer {msgid}").into_bytes())
                        .expect("append");
                    let IdempotentOutcome::Appended { offset, ticket } = outcome else {
                        panic!("fresh msgid {msgid} was not appended: {outcome:?}");
                    };
                    store.wait_durable_blocking(ticket).expect("durable");
                    let line = format!("ack {offset} {code} {msgid}\n");
                    let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                    o.write_all(line.as_bytes()).expect("stdout");
                    o.flush().expect("stdout");
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

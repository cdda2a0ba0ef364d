//! `medsettle journal stats|export`: what the gateway accepted, for operators.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use medsettle_store::Store;
use serde_json::{Value, json};

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand)]
pub enum JournalCommand {
    /// Record counts per kind, offsets, consumers, size on disk.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every record from OFFSET on as canonical JSON, one record per line.
    Export {
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

pub fn run(cmd: JournalCommand, config: &Config) -> Result<()> {
    let store = open_store(config)?;
    match cmd {
        JournalCommand::Stats { json } => {
            let s = store.stats()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            println!("journal        {}", config.journal_dir().display());
            println!("records        {}", s.record_count);
            println!(
                "last offset    {}",
                s.last_offset.map_or("-".into(), |o| o.to_string())
            );
            println!("durability     {:?}", s.durability);
            println!("disk bytes     {}", s.disk_bytes);
            println!("writable       {}", s.writable);
            println!(
                "corrupt        {}",
                if s.corrupt_offsets.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{:?}", s.corrupt_offsets)
                }
            );
            println!("by kind:");
            for (k, n) in &s.per_kind {
                println!("  {k:<24} {n}");
            }
            println!("consumers (next offset to read):");
            if s.consumer_offsets.is_empty() {
                println!("  (none)");
            }
            for (c, o) in &s.consumer_offsets {
                println!("  {c:<24} {o}");
            }
        }
        JournalCommand::Export { from } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for item in store.export(from) {
                let line = match item {
                    Ok((offset, r)) => {
                        let payload: Value =
                            serde_json::from_slice(&r.payload).unwrap_or_else(|_| {
                                Value::String(String::from_utf8_lossy(&r.payload).into_owned())
                            });
                        json!({
                            "offset": offset,
                            "kind": r.kind,
                            "fixmedins_code": r.key.as_ref().map(|k| &k.0),
                            "msgid": r.key.as_ref().map(|k| &k.1),
                            "record": payload,
                        })
                    }
                    Err(e) => json!({"error": e.to_string()}),
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

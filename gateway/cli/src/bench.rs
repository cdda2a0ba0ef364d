//! `medsettle bench ingest`: durable ingest over mutual TLS (see BENCHMARKS.md).

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}

//! Print the hazard list: `cargo run -p flakebox-timetravel --example hazards -- NOW ZONE`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let now: jiff::Timestamp =
        args.get(1).map(|s| s.parse()).transpose()?.unwrap_or_else(jiff::Timestamp::now);
    let name = args.get(2).cloned().unwrap_or_else(|| "UTC".into());
    let zone = flakebox_timetravel::zone(&name)?;
    for h in flakebox_timetravel::hazards(now, &zone.tz, &zone.name, &[]) {
        println!(
            "{}  {:<10} {}  [{}]",
            h.instant,
            h.family.name(),
            h.label,
            h.instant.to_zoned(zone.tz.clone())
        );
    }
    Ok(())
}

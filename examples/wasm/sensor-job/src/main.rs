//! sensor-job: a `wasi:cli` command that takes `READINGS` sensor readings (default 5), buffers
//! each in the pod's durable `wasi:keyvalue` store under `reading/<sequence>`, prints them, and
//! exits with `EXIT_CODE` (default 0; set it to test crash loops).

use edgeplane_guest::{atomics, cli, config_value, default_bucket, keyvalue};

fn main() {
    let readings: u32 = env_number("READINGS").unwrap_or(5);
    let exit_code: u8 = env_number("EXIT_CODE").unwrap_or(0);
    let sensor = config_value("SENSOR_ID").unwrap_or_else(|| "sensor-0".to_owned());

    let bucket = match default_bucket() {
        Ok(bucket) => bucket,
        Err(e) => {
            eprintln!("sensor-job: cannot open the keyvalue store: {e:?}");
            cli::exit(2);
        }
    };
    for _ in 0..readings {
        if let Err(e) = record(&bucket, &sensor) {
            eprintln!("sensor-job: cannot store a reading: {e:?}");
            cli::exit(2);
        }
    }
    let buffered = atomics::increment(&bucket, "sequence", 0).unwrap_or(0);
    println!("{sensor}: took {readings} readings, {buffered} buffered");
    if exit_code != 0 {
        eprintln!("sensor-job: exiting with {exit_code} as asked");
        cli::exit(exit_code);
    }
}

/// Takes one reading and appends it to the buffer.
fn record(bucket: &keyvalue::Bucket, sensor: &str) -> Result<(), keyvalue::Error> {
    let sequence = atomics::increment(bucket, "sequence", 1)?;
    // A made-up temperature that varies with the sequence, so readings differ.
    let tenths = 200 + (sequence * 37 % 50);
    let reading = format!(
        "{sensor} seq={sequence} temperature={}.{}C",
        tenths / 10,
        tenths % 10
    );
    bucket.set(&format!("reading/{sequence:08}"), reading.as_bytes())?;
    println!("{reading}");
    Ok(())
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

//! `cargo run --release -p runnet-econ-sim --example econ_sim -- --blocks 100000 --seed 1`:
//! what `runnet econ-sim` prints, until the node's CLI calls `runnet_econ_sim::run`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match runnet_econ_sim::run(&args) {
        Ok(table) => print!("{table}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

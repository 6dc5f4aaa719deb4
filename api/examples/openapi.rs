//! Prints the OpenAPI document: `cargo run -p runnet-api --example openapi`.
fn main() {
    println!("{}", runnet_api::openapi::json());
}

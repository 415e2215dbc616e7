//! The `hookline` command: parses the command line and calls the library.

fn main() {
    eprintln!("hookline: not built yet");
    std::process::exit(2);
}

//! `flow`: build and ship the container images of a FleetFlow project.

fn main() -> std::process::ExitCode {
    fleetflow::run()
}

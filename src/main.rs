use clap::{Parser, Subcommand};

/// Turns a written security policy into enforced, continuously checked, auditable cluster state.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => print!("{}", baseline_operator::api::crds_yaml()),
    }
}

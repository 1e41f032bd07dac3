//! Command implementations.

mod agreement;
mod api;
mod cert;
mod compliance;
mod cross_check;
mod data;
mod deal;
mod ids;
mod keys;
mod listing;
mod node;
mod offer;
mod pay;
mod price;
mod probe;
mod provider;
mod recommend;
mod register;
mod sla;
mod status;
mod testnet;
mod trust;

use crate::cli::{
    ArbiterCommand, CertCommand, Cli, Command, ComplianceCommand, ConfigCommand, ConsumerCommand,
    DataCommand, DealCommand, DemandCommand, DisputeCommand, ListingCommand, NodeCommand,
    OfferCommand, PayCommand, PriceCommand, ProviderCommand, RegisterCommand, SlaCommand,
    TestnetCommand, TrustCommand,
};
use flashback_types::RegisterRole;

/// Ends the command with this exit status; what it has to say is printed already (`sla
/// propose`'s rejections and missing decisions).
#[derive(Debug)]
pub(crate) struct Exit(pub(crate) u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Runs one parsed command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
        Command::Config(ConfigCommand::Dump(args)) => node::dump(&args),
        Command::Node(NodeCommand::Run(args)) => runtime()?.block_on(node::run(args)),
        Command::Node(NodeCommand::Status(args)) => runtime()?.block_on(status::status(args)),
        Command::Node(NodeCommand::Peers(args)) => runtime()?.block_on(status::peers(args)),
        Command::Offer(OfferCommand::Publish(args)) => runtime()?.block_on(offer::publish(args)),
        Command::Offer(OfferCommand::Withdraw(args)) => runtime()?.block_on(offer::withdraw(args)),
        Command::Offer(OfferCommand::List(args)) => runtime()?.block_on(offer::list(args)),
        Command::Offer(OfferCommand::Status(args)) => runtime()?.block_on(price::status(args)),
        Command::Listing(ListingCommand::Query(args)) => runtime()?.block_on(listing::query(args)),
        Command::Sla(SlaCommand::Propose(args)) => runtime()?.block_on(sla::propose(args)),
        Command::Sla(SlaCommand::List(args)) => runtime()?.block_on(sla::list(args)),
        Command::Sla(SlaCommand::Status(args)) => runtime()?.block_on(agreement::status(args)),
        Command::Sla(SlaCommand::Access(args)) => runtime()?.block_on(agreement::access(args)),
        Command::Sla(SlaCommand::Terminate(args)) => {
            runtime()?.block_on(agreement::terminate(args))
        }
        Command::Sla(SlaCommand::Renew(args)) => runtime()?.block_on(agreement::renew(args)),
        Command::Data(DataCommand::Put(args)) => runtime()?.block_on(data::put(args)),
        Command::Data(DataCommand::Get(args)) => runtime()?.block_on(data::get(args)),
        Command::Data(DataCommand::Ls(args)) => runtime()?.block_on(data::ls(args)),
        Command::Data(DataCommand::Rm(args)) => runtime()?.block_on(data::rm(args)),
        Command::Provider(ProviderCommand::Show(args)) => runtime()?.block_on(provider::show(args)),
        Command::Provider(ProviderCommand::Revenue(args)) => {
            runtime()?.block_on(pay::revenue(args))
        }
        Command::Pay(PayCommand::Run(args)) => runtime()?.block_on(pay::run(args)),
        Command::Pay(PayCommand::Status(args)) => runtime()?.block_on(pay::status(args)),
        Command::Consumer(ConsumerCommand::Show(args)) => {
            runtime()?.block_on(pay::consumer_show(args))
        }
        Command::Dispute(DisputeCommand::Open(args)) => runtime()?.block_on(pay::dispute(args)),
        Command::Arbiter(ArbiterCommand::Rule(args)) => runtime()?.block_on(pay::rule(args)),
        Command::Probe(args) => runtime()?.block_on(probe::run(args)),
        Command::Testnet(TestnetCommand::Up(args)) => runtime()?.block_on(testnet::up(args)),
        Command::Testnet(TestnetCommand::Down(args)) => testnet::down(&args),
        Command::Testnet(TestnetCommand::Report(args)) => testnet::report(&args),
        Command::Recommend(args) => runtime()?.block_on(recommend::run(*args)),
        Command::Demand(DemandCommand::Publish(args)) => runtime()?.block_on(deal::publish(*args)),
        Command::Demand(DemandCommand::Quotes(args)) => runtime()?.block_on(deal::quotes(args)),
        Command::Deal(DealCommand::Make(args)) => runtime()?.block_on(deal::make(*args)),
        Command::Deal(DealCommand::Show(args)) => runtime()?.block_on(deal::show(args)),
        Command::Cert(CertCommand::Issue(args)) => runtime()?.block_on(cert::issue(args)),
        Command::Cert(CertCommand::Revoke(args)) => runtime()?.block_on(cert::revoke(args)),
        Command::Cert(CertCommand::List(args)) => runtime()?.block_on(cert::list(args)),
        Command::Cert(CertCommand::Show(args)) => runtime()?.block_on(cert::show(args)),
        Command::Trust(TrustCommand::Add(args)) => trust::add(args),
        Command::Trust(TrustCommand::Remove(args)) => trust::remove(args),
        Command::Trust(TrustCommand::Require(args)) => trust::require(args),
        Command::Trust(TrustCommand::List(args)) => runtime()?.block_on(trust::list(args)),
        Command::Register(RegisterCommand::Providers(args)) => {
            runtime()?.block_on(register::run(RegisterRole::Providers, args))
        }
        Command::Register(RegisterCommand::Consumers(args)) => {
            runtime()?.block_on(register::run(RegisterRole::Consumers, args))
        }
        Command::Compliance(ComplianceCommand::Verify(args)) => {
            runtime()?.block_on(compliance::verify(args))
        }
        Command::Api(crate::cli_api::ApiCommand::ImportKey(args)) => api::import_key(args),
        Command::Api(crate::cli_api::ApiCommand::Info(args)) => api::info(args),
        Command::Price(PriceCommand::Suggest(args)) => runtime()?.block_on(price::suggest(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The value types the administration API (PetrelAdmin) takes and returns: addresses and dates
/// (MailCore), domains, mailboxes, queue and access entries (MailStore), networks and relay domains
/// (MailPolicy), Badmail entries and durations (MailQueue), the Badmail directory's disk side
/// (BadmailStore), DKIM keys and results (MailAuthChecks). Its users (the CLI) depend on PetrelServer alone.
@_exported import BadmailStore
@_exported import MailAuthChecks
@_exported import MailCore
@_exported import MailPolicy
@_exported import MailQueue
@_exported import MailStore
/// The configuration types and the log handler live in PetrelConfig (a light target the config fuzzer
/// can build without the server's dependencies); users of PetrelServer see them as before.
@_exported import PetrelConfig

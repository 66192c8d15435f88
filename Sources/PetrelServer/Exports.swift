/// The configuration types and the log handler live in PetrelConfig (a light target the config fuzzer
/// can build without the server's dependencies); users of PetrelServer see them as before.
@_exported import PetrelConfig
/// The Badmail directory's disk side (BadmailStore), for the CLI's `petrel badmail` as before the split.
@_exported import BadmailStore

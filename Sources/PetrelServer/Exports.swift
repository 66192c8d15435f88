/// The configuration types and the log handler live in PetrelConfig (a light target the config fuzzer
/// can build without the server's dependencies); users of PetrelServer see them as before.
@_exported import PetrelConfig

#pragma once
/// \file
/// The exception types of nkscape. The library never calls exit(); it throws one of these and the
/// CLI maps them to exit codes (InputError family → 2, anything else → 1).

#include <stdexcept>
#include <string>

namespace nkscape {

/// Base of every exception the library throws on purpose.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The user's input (a model, scenario or command line) is wrong. The message names the object,
/// the key and the file:line where it can.
class InputError : public Error {
public:
    using Error::Error;
};

/// A file could not be read or written.
class IoError : public Error {
public:
    using Error::Error;
};

/// A bug in nkscape itself: an invariant of the code does not hold (for example a result about to
/// be written holds NaN or infinity, which no output may contain). Never the user's fault; the CLI
/// maps it to exit 1.
class InternalError : public Error {
public:
    explicit InternalError(const std::string& what) : Error("internal error: " + what) {}
};

/// A unit string does not parse, or two units do not convert.
class UnitError : public InputError {
public:
    using InputError::InputError;
};

/// A feature that is declared but not built yet. Never a silent fallback.
class NotImplementedError : public Error {
public:
    explicit NotImplementedError(const std::string& what) : Error("not implemented: " + what) {}
};

}  // namespace nkscape

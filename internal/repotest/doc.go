// Package repotest holds tests of the repository itself rather than of a Go
// package: the README's two set-up commands are what CI and `make` run, and
// the GitHub workflows call them and nothing else. It has no code of its own.
package repotest

//go:build tools

// Package main's tools.go pins the libraries ferry builds on before every
// package imports them, so `go mod tidy` keeps their versions.
package main

import (
	_ "github.com/charmbracelet/bubbles/progress"
	_ "github.com/charmbracelet/bubbles/textinput"
	_ "github.com/charmbracelet/bubbletea"
	_ "github.com/charmbracelet/lipgloss"
	_ "github.com/charmbracelet/x/exp/teatest"
	_ "github.com/klauspost/compress/s2"
	_ "github.com/prometheus-community/pro-bing"
	_ "github.com/vmware/go-vcloud-director/v2/govcd"
	_ "github.com/vmware/govmomi/simulator"
	_ "github.com/zeebo/blake3"
	_ "github.com/zeebo/xxh3"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
)

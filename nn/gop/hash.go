package gop

import (
	"hash"
	"hash/fnv"
)

func newFNV() hash.Hash32 { return fnv.New32a() }

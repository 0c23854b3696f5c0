package telemetry

import (
	"testing"
	"time"
)

func BenchmarkTmpPrep(b *testing.B) {
	for b.Loop() {
		e := benchEvent
		e.ID = newID()
		e.Time = time.Now()
		e.validate()
		encodeEvent(&e)
	}
}
func BenchmarkTmpID(b *testing.B) {
	for b.Loop() {
		newID()
	}
}
func BenchmarkTmpEnc(b *testing.B) {
	e := benchEvent
	e.ID = newID()
	for b.Loop() {
		encodeEvent(&e)
	}
}
func BenchmarkTmpVal(b *testing.B) {
	e := benchEvent
	e.ID = newID()
	for b.Loop() {
		e.validate()
	}
}

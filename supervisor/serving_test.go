package supervisor

import (
	"context"
	"errors"
	"testing"
)

func TestServeOnce(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Serve(ctx); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if err := s.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Errorf("a second Serve = %v, want ErrServing", err)
	}
}

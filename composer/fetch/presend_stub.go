package fetch

import "context"

// Temporary stubs until the wire's implementation lands (issue-26-presend-wire).

func Answered(req *Request) bool { return false }

func WithWaitHook(ctx context.Context, hook func() error) context.Context { return ctx }

func Release(req *Request) {}

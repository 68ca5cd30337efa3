package jobstest_test

import (
	"context"
	"testing"

	"github.com/recap/recap/jobs/jobstest"
	"github.com/recap/recap/store"
	"github.com/recap/recap/store/storetest"
)

func TestStoreContractFake(t *testing.T) {
	t.Parallel()
	jobstest.RunStoreContract(t, func(t *testing.T) *jobstest.StoreDriver { return jobstest.FakeDriver(t) })
}

// TestStoreContractPostgres runs the contract against the real store, on
// a private schema per subtest.
func TestStoreContractPostgres(t *testing.T) {
	t.Parallel()
	jobstest.RunStoreContract(t, func(t *testing.T) *jobstest.StoreDriver {
		s := storetest.New(t)
		t.Cleanup(func() { storetest.CheckLedger(t, s) })
		return &jobstest.StoreDriver{
			Store: s,
			NewAccount: func(t testing.TB, seconds int64) int64 {
				t.Helper()
				k, _, err := s.CreateKey(context.Background(), store.NewKey{Name: "contract", Seconds: seconds})
				if err != nil {
					t.Fatal(err)
				}
				return k.AccountID
			},
			Balance: func(t testing.TB, accountID int64) (int64, int64) {
				t.Helper()
				b, err := s.Balance(context.Background(), accountID)
				if err != nil {
					t.Fatal(err)
				}
				return b.Available, b.Held
			},
		}
	})
}

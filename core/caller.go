package core

import "slices"

// Caller is the API key on whose behalf the core acts. Object-level tenancy
// is decided here, from the key's stored scope, whatever ids a request
// carries.
type Caller struct {
	KeyID  string
	Root   bool
	OrgIDs []string
}

// Admin is the server administrator (the core's own subcommands): it may do
// everything.
var Admin = Caller{KeyID: "", Root: true}

func (c Caller) requireRoot() error {
	if !c.Root {
		return Errorf(CodeForbidden, "Key does not have root access")
	}
	return nil
}

// requireOrg allows root keys everywhere and org keys in their own org. An
// org key gets the same answer whether or not the other org exists.
func (c Caller) requireOrg(orgID string) error {
	if c.Root || slices.Contains(c.OrgIDs, orgID) {
		return nil
	}
	return Errorf(CodeForbidden, "Key does not have access to organization %s", orgID)
}

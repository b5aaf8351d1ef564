package core

// Actions is the catalogue of action ids a key can be granted: the 80 ids of
// Pangolin 1.8, those newer versions route, and those of our own routes. The store seeds it at start;
// setting an id outside it is refused.
var Actions = []string{
	// Pangolin 1.8.
	"createOrgUser", "listOrgs", "listUserOrgs", "createOrg", "getOrg", "updateOrg", "deleteOrg",
	"createSite", "deleteSite", "getSite", "listSites", "updateSite",
	"createResource", "deleteResource", "getResource", "listResources", "updateResource",
	"createTarget", "deleteTarget", "getTarget", "listTargets", "updateTarget",
	"createRole", "deleteRole", "getRole", "listRoles", "updateRole",
	"inviteUser", "listInvitations", "removeInvitation", "removeUser", "listUsers",
	"listSiteRoles", "listResourceRoles", "setResourceUsers", "setResourceRoles",
	"listResourceUsers", "listRoleResources", "addUserRole", "getOrgUser", "updateUser", "getUser",
	"setResourcePassword", "setResourcePincode", "setResourceWhitelist", "getResourceWhitelist",
	"generateAccessToken", "deleteAcessToken", "listAccessTokens",
	"createResourceRule", "deleteResourceRule", "listResourceRules", "updateResourceRule",
	"createClient", "deleteClient", "updateClient", "listClients", "getClient",
	"listOrgDomains", "createNewt",
	"createIdp", "updateIdp", "deleteIdp", "listIdps", "getIdp",
	"createIdpOrg", "deleteIdpOrg", "listIdpOrgs", "updateIdpOrg",
	"checkOrgId", "createApiKey", "deleteApiKey", "setApiKeyActions", "setApiKeyOrgs",
	"listApiKeyActions", "listApiKeys", "getApiKey",
	"createOrgDomain", "deleteOrgDomain", "restartOrgDomain",
	// Newer versions.
	"resetSiteBandwidth", "restartSite", "reGenerateSecret", "updateSiteApprovals",
	"setResourceHeaderAuth", "createResourceSessionToken",
	"createSiteResource", "deleteSiteResource", "getSiteResource", "listSiteResources", "updateSiteResource",
	"archiveClient", "unarchiveClient", "blockClient", "unblockClient",
	"getDomain", "updateOrgDomain", "getDNSRecords", "createOlm",
	"removeUserRole", "setUserOrgRoles", "updateOrgUser",
	"listBlueprints", "getBlueprint", "applyBlueprint", "viewLogs", "exportLogs",
	// Beyond Pangolin: changing and rolling a key.
	"updateApiKey", "rollApiKey",
}

// Pangolin18ActionCount is the number of ids in the 1.8 catalogue, the
// prefix of Actions.
const Pangolin18ActionCount = 80

// The roles every org is created with, in the same transaction as the org:
// Admin holds every action, Member the few Pangolin grants members.
const (
	AdminRoleName         = "Admin"
	AdminRoleDescription  = "Admin role with the most permissions"
	MemberRoleName        = "Member"
	MemberRoleDescription = "Members can only view resources"
)

// MemberActions are the actions of an org's Member role (and of roles
// created later), as in newer Pangolin.
var MemberActions = []string{"getOrg", "getResource", "listResources", "getSiteResource", "listSiteResources"}

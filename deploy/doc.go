// Package deploy holds the deployment files of firegrid that are not Go:
// configuration mounted into the services of the repository's
// docker-compose.yml (deploy/<service>/...). Its tests check that the
// compose file and those configurations fit together; it has no code.
package deploy

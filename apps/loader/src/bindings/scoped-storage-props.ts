/** Props of the storage capabilities handed to a child: whose data, which namespace. */
export interface ScopedStorageProps {
  tenant: string;
  namespace: string;
}

import { Card, CardBody, CardHeader } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";

export default function AdminLoading() {
  return (
    <div className="space-y-8" aria-busy="true">
      <div>
        <h1 className="text-2xl font-semibold">Fleet</h1>
        <p role="status" className="text-sm text-slate-600">
          Loading the fleet…
        </p>
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        {[0, 1].map((card) => (
          <Card key={card}>
            <CardHeader>
              <Skeleton className="h-5 w-40" />
            </CardHeader>
            <CardBody className="grid grid-cols-2 gap-2 sm:grid-cols-4">
              {Array.from({ length: 8 }, (_, index) => (
                <Skeleton key={index} className="h-14" />
              ))}
            </CardBody>
          </Card>
        ))}
      </div>
      <Card>
        <CardBody>
          <Skeleton className="h-56" />
        </CardBody>
      </Card>
      <div className="space-y-2">
        {Array.from({ length: 8 }, (_, index) => (
          <Skeleton key={index} className="h-12" />
        ))}
      </div>
    </div>
  );
}
